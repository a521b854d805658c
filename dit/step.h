/* One denoiser evaluation of a class-conditional DiT-family model, as a sampler calls it
 * (samplers/sampler.h's sn_denoiser eval): the batch doubled for classifier-free guidance (the
 * labels, then the null class, on the same latents), and on CUDA the evaluation recorded once
 * as a CUDA graph (core/graph.h) and replayed at every later step.
 *
 * The inputs live at fixed addresses that each call refills (the latents copied in, the time
 * written from the host); the first call at a given batch and arena position runs eagerly
 * (warming the model's caches), the second records and replays, the later ones replay. What a
 * call returns stays valid until the caller's scope ends, as for an eager call. */
#ifndef SN_DIT_STEP_H
#define SN_DIT_STEP_H

#include "dit.h"

typedef struct sn_dit_step sn_dit_step;

/* labels (n, each < num_classes) are copied. use_graph: record CUDA graphs (ignored on the
 * CPU). NULL with the context error set on failure. */
sn_dit_step *sn_dit_step_new(sn_ctx *ctx, sn_dit *model, const int32_t *labels, int n,
                             int use_graph);
/* x (n, C, H, W) f32 at model time t: the conditional output into *cond and, when uncond is
 * not NULL, the unconditional one into *uncond (one forward over the doubled batch). */
void sn_dit_step_eval(sn_ctx *ctx, sn_dit_step *st, sn_tensor x, double t, sn_tensor *cond,
                      sn_tensor *uncond);
/* How many evaluations replayed a graph (for reports and tests). */
int sn_dit_step_replays(const sn_dit_step *st);
void sn_dit_step_free(sn_dit_step *st);

#endif
