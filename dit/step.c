#include "step.h"

#include <stdlib.h>
#include <string.h>

#include "../core/graph.h"
#include "../core/ops.h"

/* One recorded evaluation: a batch size (n or 2n) at one arena position. */
typedef struct {
    int used, b, runs;      /* runs: eager evaluations so far (the graph is recorded at the 2nd) */
    size_t mark;            /* the arena's top when the evaluation starts */
    int64_t shape[4];       /* of the latents x */
    sn_tensor x, t, y;      /* fixed-address inputs: (b, C, H, W) f32, (b) f32, (b) i32 */
    sn_tensor cond, uncond; /* the outputs, in the arena above `mark` */
    sn_graph *graph;
} entry;

#define ENTRIES 4 /* guided and unguided batches, at the one or two positions Heun uses */

struct sn_dit_step {
    sn_dit *model;
    int32_t *labels;
    int n, use_graph, replays, next;
    entry e[ENTRIES];
};

sn_dit_step *sn_dit_step_new(sn_ctx *ctx, sn_dit *model, const int32_t *labels, int n,
                             int use_graph) {
    if (!sn_ok(ctx)) return NULL;
    sn_dit_step *st = calloc(1, sizeof *st);
    int32_t *l = malloc(sizeof *l * (n > 0 ? n : 1));
    if (!st || !l) {
        free(st), free(l);
        sn_fail(ctx, "out of memory");
        return NULL;
    }
    memcpy(l, labels, sizeof *l * n);
    st->model = model, st->labels = l, st->n = n;
    st->use_graph = use_graph && sn_ctx_device(ctx) == SN_CUDA;
    return st;
}

static entry *entry_for(sn_ctx *ctx, sn_dit_step *st, sn_tensor x, int b) {
    size_t mark = sn_arena_used(ctx);
    for (int i = 0; i < ENTRIES; i++) {
        entry *e = &st->e[i];
        if (e->used && e->b == b && e->mark == mark && !memcmp(e->shape, x.shape, sizeof e->shape))
            return e;
    }
    entry *e = &st->e[st->next];
    st->next = (st->next + 1) % ENTRIES;
    sn_graph_free(e->graph); /* the persistent inputs of an evicted entry are reused */
    e->graph = NULL;
    e->runs = 0;
    e->mark = mark;
    if (!e->used || e->b != b || memcmp(e->shape, x.shape, sizeof e->shape)) {
        memcpy(e->shape, x.shape, sizeof e->shape);
        e->b = b;
        e->x = sn_persist_tensor(ctx, SN_F32, SN_SHAPE(b, x.shape[1], x.shape[2], x.shape[3]));
        e->t = sn_persist_tensor(ctx, SN_F32, SN_SHAPE(b));
        int32_t *yh = malloc(sizeof *yh * b);
        if (!yh) {
            sn_fail(ctx, "out of memory");
            return NULL;
        }
        for (int i = 0; i < b; i++) /* the labels, then the null class */
            yh[i] = i < st->n ? st->labels[i] : st->model->info.num_classes;
        e->y = sn_upload(ctx, sn_tensor_wrap(yh, SN_I32, SN_SHAPE(b)));
        free(yh);
    }
    e->used = sn_ok(ctx);
    return e->used ? e : NULL;
}

typedef struct {
    sn_dit_step *st;
    entry *e;
} run_args;

/* The evaluation itself: what the graph records. */
static void forward(sn_ctx *ctx, void *user) {
    run_args *a = user;
    entry *e = a->e;
    sn_tensor out = sn_dit_forward(ctx, a->st->model, e->x, e->t, e->y);
    if (e->b == a->st->n) {
        e->cond = out, e->uncond = sn_none();
        return;
    }
    sn_tensor halves[2];
    sn_split(ctx, out, 0, 2, halves);
    e->cond = halves[0], e->uncond = halves[1];
}

void sn_dit_step_eval(sn_ctx *ctx, sn_dit_step *st, sn_tensor x, double t, sn_tensor *cond,
                      sn_tensor *uncond) {
    *cond = sn_none();
    if (uncond) *uncond = sn_none();
    if (!sn_ok(ctx)) return;
    int n = st->n, b = uncond ? 2 * n : n;
    if (x.ndim != 4 || x.dtype != SN_F32 || x.shape[0] != n) {
        sn_fail(ctx, "dit step: latents must be f32 (%d, C, H, W)", n);
        return;
    }
    entry *e = entry_for(ctx, st, x, b);
    if (!e) return;
    /* refill the inputs: x once or twice, t on every row */
    size_t half = sn_nbytes(x);
    for (int i = 0; i < b / n; i++) {
        sn_tensor dst = x;
        dst.data = (char *)e->x.data + i * half;
        sn_copy_into(ctx, dst, x);
    }
    float *th = malloc(sizeof *th * b);
    if (!th) {
        sn_fail(ctx, "out of memory");
        return;
    }
    for (int i = 0; i < b; i++) th[i] = (float)t;
    sn_copy_from_host(ctx, e->t, th);
    free(th);
    run_args a = {st, e};
    /* the steps that run densely (--attention ...,dense-steps=N) stay eager; recording begins
     * once the sparse attention has run eagerly (its plan is built outside the capture) */
    sn_dit *m = st->model;
    int dense = m->attn.kind != SN_ATTN_FULL && m->forwards < m->dense_steps;
    if (dense) {
        forward(ctx, &a);
    } else if (!st->use_graph || e->runs < 1) {
        forward(ctx, &a);
        e->runs++;
    } else {
        if (!e->graph) e->graph = sn_graph_capture(ctx, forward, &a);
        if (e->graph && sn_graph_replay(ctx, e->graph) == 0) st->replays++;
    }
    if (!sn_ok(ctx)) return;
    *cond = e->cond;
    if (uncond) *uncond = e->uncond;
}

int sn_dit_step_replays(const sn_dit_step *st) { return st ? st->replays : 0; }

void sn_dit_step_free(sn_dit_step *st) {
    if (!st) return;
    for (int i = 0; i < ENTRIES; i++) sn_graph_free(st->e[i].graph);
    free(st->labels);
    free(st);
}
