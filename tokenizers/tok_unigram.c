/* SentencePiece unigram (T5, umT5): Viterbi segmentation over the piece scores, the way
 * Hugging Face tokenizers runs a tokenizer.json (per pre-token, f64 scores, unknown characters
 * fused into one <unk>, then byte fallback) and the way SentencePiece runs a .model file
 * (its normalizer with the precompiled charsmap and the whitespace rules, the whole text in one
 * lattice, f32 scores, user-defined symbols preferred, runs of unknowns merged or spelled in
 * bytes). Also the reader for the .model protobuf (ModelProto). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "tok_internal.h"

/* A Viterbi lattice over the text's bytes: node[e] is the best piece ending at byte e (its start,
 * -1 while unreached, and id); the two encoders keep their scores beside it in their own
 * precision (f64 as Hugging Face, f32 as SentencePiece). */
typedef struct {
    int start;
    int32_t id;
} lat_node;

/* The best path, walked back from byte n: piece i spans cut[i] .. cut[i + 1] and is ids[i].
 * Returns the number of pieces, or -1 when out of memory (nothing is left allocated). */
static int lattice_path(const lat_node *node, size_t n, size_t **cut, int32_t **ids) {
    int cnt = 0;
    for (size_t e = n; e > 0; e = (size_t)node[e].start) cnt++;
    *cut = malloc((size_t)(cnt + 1) * sizeof **cut);
    *ids = malloc((size_t)(cnt + 1) * sizeof **ids);
    if (!*cut || !*ids) {
        free(*cut);
        free(*ids);
        *cut = NULL, *ids = NULL;
        return -1;
    }
    int k = cnt;
    for (size_t e = n; e > 0; e = (size_t)node[e].start) {
        (*cut)[k] = e;
        (*ids)[--k] = node[e].id;
    }
    (*cut)[0] = 0;
    return cnt;
}

/* --- Hugging Face ---------------------------------------------------------------------------- */

int tk_unigram_encode_hf(const sn_tokenizer *t, const char *s, size_t n, tk_ids *out, char *err,
                         size_t errcap) {
    if (!n) return 0;
    lat_node *best = malloc((n + 1) * sizeof *best);
    double *score = malloc((n + 1) * sizeof *score);
    if (!best || !score) {
        free(best);
        free(score);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i <= n; i++) best[i] = (lat_node){-1, 0}, score[i] = 0;
    double unk_score = t->min_score - 10.0;
    size_t at = 0;
    while (at < n) {
        double base = score[at];
        size_t mblen = (size_t)tk_utf8_len((unsigned char)s[at]);
        int single = 0;
        size_t end = at;
        while (end < n) {
            end += (size_t)tk_utf8_len((unsigned char)s[end]);
            if (end - at > t->max_piece_len) break;
            int32_t id;
            if (!tk_map_get(&t->vocab, s + at, end - at, &id)) continue;
            double cand = t->score[id] + base;
            if (best[end].start < 0 || cand > score[end])
                best[end] = (lat_node){(int)at, id}, score[end] = cand;
            if (end - at == mblen) single = 1;
        }
        if (!single) {
            size_t e = at + mblen;
            double cand = unk_score + base;
            if (best[e].start < 0 || cand > score[e]) {
                if (t->unk_id < 0) {
                    snprintf(err, errcap,
                             "%s: a character is not in the vocabulary and the "
                             "vocabulary has no unknown token",
                             t->path);
                    free(best);
                    free(score);
                    return -1;
                }
                best[e] = (lat_node){(int)at, t->unk_id}, score[e] = cand;
            }
        }
        at += mblen;
    }
    /* the path; consecutive unknowns fuse into one string */
    size_t *cut;
    int32_t *ids;
    int cnt = lattice_path(best, n, &cut, &ids);
    free(best);
    free(score);
    if (cnt < 0) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    for (int i = 0; i < cnt;) {
        size_t a = cut[i];
        int j = i + 1;
        if (ids[i] == t->unk_id)
            while (j < cnt && ids[j] == t->unk_id) j++;
        size_t b = cut[j];
        int32_t id = ids[i];
        if (ids[i] == t->unk_id && !tk_map_get(&t->vocab, s + a, b - a, &id)) {
            int all = t->byte_fallback;
            for (size_t q = a; q < b && all; q++) all = t->byte_piece[(unsigned char)s[q]] >= 0;
            if (all) {
                for (size_t q = a; q < b; q++) tk_ids_push(out, t->byte_piece[(unsigned char)s[q]]);
                i = j;
                continue;
            }
            id = t->unk_id;
        }
        tk_ids_push(out, id);
        i = j;
    }
    free(cut);
    free(ids);
    if (out->bad) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

/* --- SentencePiece --------------------------------------------------------------------------- */

/* The nmt rules (control characters dropped, odd spaces to ' '), for a model whose normalizer
 * names nmt_nfkc but carries no charsmap. */
static void nmt_map(const char *s, size_t n, tk_str *out) {
    size_t i = 0;
    while (i < n) {
        int len;
        uint32_t c = tk_utf8_next(s + i, &len);
        i += (size_t)len;
        if ((c >= 1 && c <= 8) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F ||
            c == 0x9F)
            continue;
        if (c == 9 || c == 10 || c == 12 || c == 13 || c == 0x1680 ||
            (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 ||
            c == 0xFEFF || c == 0xFFFD)
            c = ' ';
        tk_str_put_cp(out, c);
    }
}

/* One step of SentencePiece's NormalizePrefix: the normalized text of the longest rule at s
 * (or a user-defined symbol untouched, or one character), and the bytes consumed. */
static size_t spm_prefix(const sn_tokenizer *t, const char *s, size_t n, const char **r,
                         size_t *rn) {
    if (t->sp_user_max) {
        size_t best = 0;
        for (size_t k = 1; k <= t->sp_user_max && k <= n; k++)
            if (tk_map_get(&t->sp_user, s, k, NULL)) best = k;
        if (best) {
            *r = s;
            *rn = best;
            return best;
        }
    }
    if (t->sp_has_cm) {
        size_t m = tk_charsmap_match(&t->sp_cm, s, n, 0, r, rn);
        if (m) return m;
    }
    size_t len = (size_t)tk_utf8_len((unsigned char)s[0]);
    if (len > n) len = n;
    *r = s;
    *rn = len;
    return len;
}

static void spm_normalize(const sn_tokenizer *t, const char *in, size_t n, tk_str *out) {
    static const char ws[] = "\xE2\x96\x81";
    tk_str pre = {0};
    if (t->sp_nfkc_fallback) { /* approximation: NFKC (+ nmt rules) on the whole text first */
        tk_str tmp = {0};
        if (t->sp_nfkc_fallback == 2) {
            nmt_map(in, n, &tmp);
            tk_unicode_norm(TK_NFKC, tmp.p ? tmp.p : "", tmp.n, &pre);
        } else {
            tk_unicode_norm(TK_NFKC, in, n, &pre);
        }
        tk_str_free(&tmp);
        if (pre.bad) {
            out->bad = 1;
            return;
        }
        in = pre.p ? pre.p : "";
        n = pre.n;
    }
    const char *r;
    size_t rn, pos = 0;
    if (t->sp_remove_extra_ws) {
        while (pos < n) {
            size_t c = spm_prefix(t, in + pos, n - pos, &r, &rn);
            if (!(rn == 1 && r[0] == ' ')) break;
            pos += c;
        }
    }
    if (pos < n) {
        if (!t->sp_ws_suffix && t->sp_add_dummy_prefix)
            tk_str_puts(out, t->sp_escape_ws ? ws : " ");
        int prev_space = t->sp_remove_extra_ws;
        while (pos < n) {
            size_t c = spm_prefix(t, in + pos, n - pos, &r, &rn);
            while (prev_space && rn && r[0] == ' ') {
                r++;
                rn--;
            }
            if (rn) {
                for (size_t k = 0; k < rn; k++) {
                    if (t->sp_escape_ws && r[k] == ' ')
                        tk_str_put(out, ws, 3);
                    else
                        tk_str_putc(out, r[k]);
                }
                prev_space = r[rn - 1] == ' ';
            }
            pos += c;
            if (!t->sp_remove_extra_ws) prev_space = 0;
        }
        if (t->sp_remove_extra_ws) {
            const char *sp = t->sp_escape_ws ? ws : " ";
            size_t sl = strlen(sp);
            while (out->n >= sl && !memcmp(out->p + out->n - sl, sp, sl)) out->n -= sl;
            if (out->p) out->p[out->n] = 0;
        }
        if (t->sp_ws_suffix && t->sp_add_dummy_prefix) tk_str_puts(out, t->sp_escape_ws ? ws : " ");
    }
    tk_str_free(&pre);
}

int tk_spm_encode(const sn_tokenizer *t, const char *s, size_t n, tk_ids *out, char *err,
                  size_t errcap) {
    tk_str norm = {0};
    size_t bad_at;
    spm_normalize(t, s, n, &norm);
    if (norm.bad) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    if (tk_utf8_check(norm.p ? norm.p : "", norm.n, &bad_at)) { /* a rule pointing mid-character */
        tk_str_free(&norm);
        snprintf(err, errcap, "%s: the normalizer made invalid UTF-8 (a broken charsmap?)",
                 t->path);
        return -1;
    }
    size_t size = norm.n;
    const char *x = norm.p;
    if (!size) {
        tk_str_free(&norm);
        return 0;
    }
    lat_node *best = malloc((size + 1) * sizeof *best);
    float *score = malloc((size + 1) * sizeof *score);
    if (!best || !score) {
        free(best);
        free(score);
        tk_str_free(&norm);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i <= size; i++) best[i] = (lat_node){-1, -1}, score[i] = 0.0f;
    const float unk_score = t->sp_min_score - 10.0f;
    size_t at = 0;
    while (at < size) {
        float base = score[at];
        size_t mblen = (size_t)tk_utf8_len((unsigned char)x[at]);
        if (mblen > size - at) mblen = size - at;
        int single = 0;
        for (size_t end = at + 1; end <= size && end - at <= t->max_piece_len; end++) {
            int32_t id;
            if (!tk_map_get(&t->sp_trie, x + at, end - at, &id)) continue;
            if (t->sp_type[id] == TK_SP_UNUSED) continue;
            size_t length = end - at;
            if (t->sp_type[id] == TK_SP_USER) {
                double user = (double)((float)length * t->sp_max_score) - 0.1;
                double cand = user + (double)base;
                if (best[end].start < 0 || cand > (double)score[end])
                    best[end] = (lat_node){(int)at, id}, score[end] = (float)cand;
            } else {
                float cand = (float)t->score[id] + base;
                if (best[end].start < 0 || cand > score[end])
                    best[end] = (lat_node){(int)at, id}, score[end] = cand;
            }
            if (length == mblen) single = 1;
        }
        if (!single) {
            size_t e = at + mblen;
            float cand = unk_score + base;
            if (best[e].start < 0 || cand > score[e])
                best[e] = (lat_node){(int)at, t->unk_id}, score[e] = cand;
        }
        at += mblen;
    }
    size_t *cut;
    int32_t *ids;
    int cnt = lattice_path(best, size, &cut, &ids);
    free(best);
    free(score);
    if (cnt < 0) {
        tk_str_free(&norm);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    int prev_unk = 0;
    for (int i = 0; i < cnt; i++) {
        int unk = ids[i] == t->unk_id;
        if (unk && t->byte_fallback) {
            for (size_t q = cut[i]; q < cut[i + 1]; q++)
                tk_ids_push(out, t->byte_piece[(unsigned char)x[q]]);
        } else if (!(unk && prev_unk)) { /* a run of unknowns is one <unk> */
            tk_ids_push(out, ids[i]);
        }
        prev_unk = unk;
    }
    free(cut);
    free(ids);
    tk_str_free(&norm);
    if (out->bad) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

/* --- the .model protobuf -------------------------------------------------------------------- */

typedef struct {
    const unsigned char *p, *end;
    const char *why;
} pb;

static int pb_varint(pb *b, uint64_t *v) {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) {
            b->why = "a number runs past the end";
            return -1;
        }
        unsigned char c = *b->p++;
        x |= (uint64_t)(c & 0x7F) << shift;
        if (c < 0x80) {
            *v = x;
            return 0;
        }
    }
    b->why = "a number is longer than 10 bytes";
    return -1;
}

/* Reads one field: its number, wire type, and (varint) value or (bytes) span. */
static int pb_field(pb *b, int *num, int *wt, uint64_t *v, const unsigned char **data,
                    size_t *len) {
    uint64_t key;
    if (pb_varint(b, &key)) return -1;
    *num = (int)(key >> 3);
    *wt = (int)(key & 7);
    if (*num <= 0) {
        b->why = "a field number is 0";
        return -1;
    }
    switch (*wt) {
    case 0: return pb_varint(b, v);
    case 1:
    case 5: {
        size_t k = *wt == 1 ? 8 : 4;
        if ((size_t)(b->end - b->p) < k) {
            b->why = "a fixed-size field runs past the end";
            return -1;
        }
        *data = b->p;
        *len = k;
        b->p += k;
        return 0;
    }
    case 2: {
        uint64_t k;
        if (pb_varint(b, &k)) return -1;
        if (k > (uint64_t)(b->end - b->p)) {
            b->why = "a length-delimited field runs past the end";
            return -1;
        }
        *data = b->p;
        *len = (size_t)k;
        b->p += k;
        return 0;
    }
    default: b->why = "a field has an unknown wire type (not a SentencePiece model?)"; return -1;
    }
}

typedef struct {
    const unsigned char *piece;
    size_t piece_len;
    float score;
    int type;
} spm_piece;

int tk_load_spm(sn_tokenizer *t, const unsigned char *data, size_t n, char *err, size_t errcap) {
    pb b = {data, data + n, NULL};
    int num, wt;
    uint64_t v;
    const unsigned char *d;
    size_t len;
    spm_piece *pieces = NULL;
    int np = 0, cap = 0;
    int model_type = 1, byte_fallback = 0, ws_suffix = 0;
    int64_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
    int add_dummy = 1, remove_ws = 1, escape_ws = 1;
    const unsigned char *cm = NULL;
    size_t cm_len = 0;
    char name[64] = "";
#define PB_FAIL(...)                        \
    do {                                    \
        snprintf(err, errcap, __VA_ARGS__); \
        free(pieces);                       \
        return -1;                          \
    } while (0)
    if (!n) PB_FAIL("%s: empty file", t->path);
    while (b.p < b.end) {
        if (pb_field(&b, &num, &wt, &v, &d, &len))
            PB_FAIL("%s: not a SentencePiece model: %s", t->path, b.why);
        if (num == 1 && wt == 2) {
            spm_piece p = {NULL, 0, 0.0f, TK_SP_NORMAL};
            pb s = {d, d + len, NULL};
            int have_piece = 0;
            while (s.p < s.end) {
                int n2, w2;
                uint64_t v2;
                const unsigned char *d2;
                size_t l2;
                if (pb_field(&s, &n2, &w2, &v2, &d2, &l2))
                    PB_FAIL("%s: piece %d: %s", t->path, np, s.why);
                if (n2 == 1 && w2 == 2) {
                    p.piece = d2;
                    p.piece_len = l2;
                    have_piece = 1;
                } else if (n2 == 2 && w2 == 5) {
                    uint32_t u = d2[0] | (uint32_t)d2[1] << 8 | (uint32_t)d2[2] << 16 |
                                 (uint32_t)d2[3] << 24;
                    memcpy(&p.score, &u, 4);
                } else if (n2 == 3 && w2 == 0) {
                    p.type = (int)v2;
                }
            }
            if (!have_piece || !p.piece_len) PB_FAIL("%s: piece %d is empty", t->path, np);
            if (p.type < 1 || p.type > 6)
                PB_FAIL("%s: piece %d has unknown type %d", t->path, np, p.type);
            if (!isfinite(p.score))
                PB_FAIL("%s: piece %d has a score that is not a number", t->path, np);
            if (np == cap) {
                cap = cap ? cap * 2 : 1024;
                spm_piece *nv = realloc(pieces, (size_t)cap * sizeof *nv);
                if (!nv) PB_FAIL("%s: out of memory", t->path);
                pieces = nv;
            }
            pieces[np++] = p;
        } else if (num == 2 && wt == 2) { /* TrainerSpec */
            pb s = {d, d + len, NULL};
            while (s.p < s.end) {
                int n2, w2;
                uint64_t v2;
                const unsigned char *d2;
                size_t l2;
                if (pb_field(&s, &n2, &w2, &v2, &d2, &l2))
                    PB_FAIL("%s: trainer_spec: %s", t->path, s.why);
                if (w2 != 0) continue;
                int64_t iv =
                    (int64_t)(int32_t)(uint32_t)v2; /* int32 fields, negatives sign-extended */
                switch (n2) {
                case 3: model_type = (int)v2; break;
                case 24: ws_suffix = v2 != 0; break;
                case 35: byte_fallback = v2 != 0; break;
                case 40: unk_id = iv; break;
                case 41: bos_id = iv; break;
                case 42: eos_id = iv; break;
                case 43: pad_id = iv; break;
                }
            }
        } else if (num == 3 && wt == 2) { /* NormalizerSpec */
            pb s = {d, d + len, NULL};
            while (s.p < s.end) {
                int n2, w2;
                uint64_t v2;
                const unsigned char *d2;
                size_t l2;
                if (pb_field(&s, &n2, &w2, &v2, &d2, &l2))
                    PB_FAIL("%s: normalizer_spec: %s", t->path, s.why);
                if (n2 == 1 && w2 == 2)
                    snprintf(name, sizeof name, "%.*s", (int)(l2 < 60 ? l2 : 60), (const char *)d2);
                else if (n2 == 2 && w2 == 2)
                    cm = d2, cm_len = l2;
                else if (n2 == 3 && w2 == 0)
                    add_dummy = v2 != 0;
                else if (n2 == 4 && w2 == 0)
                    remove_ws = v2 != 0;
                else if (n2 == 5 && w2 == 0)
                    escape_ws = v2 != 0;
            }
        }
    }
    if (!np) PB_FAIL("%s: not a SentencePiece model: it has no pieces", t->path);
    if (model_type != 1)
        PB_FAIL("%s: a SentencePiece %s model; sinter reads unigram models (T5, umT5)", t->path,
                model_type == 2   ? "BPE"
                : model_type == 3 ? "word"
                : model_type == 4 ? "char"
                                  : "unknown-type");

    if (tk_grow_ids(t, np)) PB_FAIL("%s: out of memory", t->path);
    t->score = malloc((size_t)np * sizeof *t->score);
    t->sp_type = malloc((size_t)np);
    if (!t->score || !t->sp_type) PB_FAIL("%s: out of memory", t->path);
    t->unk_id = -1;
    t->sp_min_score = FLT_MAX;
    t->sp_max_score = FLT_MIN;
    int n_bytes = 0;
    for (int i = 0; i < np; i++) {
        const spm_piece *p = &pieces[i];
        const char *ps = (const char *)p->piece;
        t->score[i] = p->score;
        t->sp_type[i] = (unsigned char)p->type;
        if (tk_map_get(&t->vocab, ps, p->piece_len, NULL))
            PB_FAIL("%s: piece %d ('%.*s') is defined twice", t->path, i, (int)p->piece_len, ps);
        if (tk_map_put(&t->vocab, ps, p->piece_len, i) || tk_set_piece(t, i, ps, p->piece_len))
            PB_FAIL("%s: out of memory", t->path);
        if (p->type == TK_SP_NORMAL || p->type == TK_SP_USER || p->type == TK_SP_UNUSED) {
            if (tk_map_put(&t->sp_trie, ps, p->piece_len, i)) PB_FAIL("%s: out of memory", t->path);
            if (p->piece_len > t->max_piece_len) t->max_piece_len = p->piece_len;
        }
        if (p->type == TK_SP_NORMAL) {
            if (p->score < t->sp_min_score) t->sp_min_score = p->score;
            if (p->score > t->sp_max_score) t->sp_max_score = p->score;
        }
        if (p->type == TK_SP_USER) {
            if (tk_map_put(&t->sp_user, ps, p->piece_len, i)) PB_FAIL("%s: out of memory", t->path);
            if (p->piece_len > t->sp_user_max) t->sp_user_max = p->piece_len;
        }
        if (p->type == TK_SP_UNKNOWN) {
            if (t->unk_id >= 0) PB_FAIL("%s: more than one unknown piece", t->path);
            t->unk_id = i;
        }
        if (p->type == TK_SP_CONTROL) t->is_special[i] = 1;
        if (p->type == TK_SP_BYTE) {
            unsigned hex = 0;
            char tail = 0, text[8] = "";
            if (!byte_fallback)
                PB_FAIL("%s: byte piece '%.*s' although byte_fallback is off", t->path,
                        (int)p->piece_len, ps);
            if (p->piece_len == 6) memcpy(text, ps, 6);
            if (p->piece_len != 6 || sscanf(text, "<0x%2X%c", &hex, &tail) != 2 || tail != '>')
                PB_FAIL("%s: byte piece '%.*s' is not of the form <0xAB>", t->path,
                        (int)p->piece_len, ps);
            if (t->byte_piece[hex] < 0) n_bytes++;
            t->byte_piece[hex] = i;
        }
    }
    free(pieces);
    pieces = NULL;
    if (t->unk_id < 0) PB_FAIL("%s: the model has no unknown piece", t->path);
    if (byte_fallback && n_bytes != 256)
        PB_FAIL("%s: byte_fallback is on but only %d of the 256 byte pieces are there", t->path,
                n_bytes);
    t->byte_fallback = byte_fallback;

    t->sp_add_dummy_prefix = add_dummy;
    t->sp_remove_extra_ws = remove_ws;
    t->sp_escape_ws = escape_ws;
    t->sp_ws_suffix = ws_suffix;
    if (cm && cm_len) {
        const char *why;
        if (tk_charsmap_init(&t->sp_cm, cm, cm_len, &why))
            PB_FAIL("%s: normalizer: %s", t->path, why);
        t->sp_has_cm = 1;
    } else if (!strncmp(name, "nmt_nfkc", 8)) {
        t->sp_nfkc_fallback = 2;
    } else if (!strncmp(name, "nfkc", 4)) {
        t->sp_nfkc_fallback = 1;
    } else if (name[0] && strcmp(name, "identity")) {
        PB_FAIL("%s: normalizer '%s' without a precompiled charsmap is not supported", t->path,
                name);
    }

    /* T5: the end token after the prompt; padding with the pad piece */
    t->n_suffix = 0;
    if (eos_id >= 0 && eos_id < np) {
        t->suffix_ids = malloc(sizeof *t->suffix_ids);
        if (!t->suffix_ids) PB_FAIL("%s: out of memory", t->path);
        t->suffix_ids[0] = (int32_t)eos_id;
        t->n_suffix = 1;
    }
    t->info.bos_id = -1;
    (void)bos_id; /* T5 and umT5 put nothing before the prompt */
    (void)unk_id; /* the UNKNOWN piece is what counts, as in SentencePiece */
    t->pad_id = pad_id >= 0 && pad_id < np ? (int32_t)pad_id : 0;
    snprintf(t->info.description, sizeof t->info.description,
             "SentencePiece unigram, %d pieces%s, normalizer %s", np,
             byte_fallback ? ", byte fallback" : "", name[0] ? name : "identity");
    return 0;
#undef PB_FAIL
}
