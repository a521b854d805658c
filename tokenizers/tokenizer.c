/* Tokenizer loading (format detection, tokenizer.json's sections) and the encoding pipeline,
 * in the order Hugging Face tokenizers runs it:
 *
 *   added tokens (not normalized) split off the raw text
 *   -> each remaining piece normalized, then added tokens (normalized) split off
 *   -> pre-tokenizers (CLIP's pattern, ByteLevel, Metaspace, WhitespaceSplit)
 *   -> the model on each pre-token (BPE or unigram)
 *   -> truncation (room kept for the special tokens), special tokens, padding.
 *
 * A SentencePiece .model goes through SentencePiece's own normalizer and one lattice over the
 * whole text instead (tok_unigram.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <utf8proc.h>

#include "../core/fileio.h"
#include "../core/log.h"
#include "tok_internal.h"

static const char CLIP_PATTERN[] =
    "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}"
    "\\p{N}]+";
static const char CLIP_PATTERN_PLAIN[] =
    "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/* --- vocabulary bookkeeping --------------------------------------------------------------- */

int tk_grow_ids(sn_tokenizer *t, int n_ids) {
    if (n_ids <= t->n_ids) return 0;
    char **p = realloc(t->piece, (size_t)n_ids * sizeof *p);
    if (!p) return -1;
    t->piece = p;
    size_t *pl = realloc(t->piece_len, (size_t)n_ids * sizeof *pl);
    if (!pl) return -1;
    t->piece_len = pl;
    unsigned char *sp = realloc(t->is_special, (size_t)n_ids);
    if (!sp) return -1;
    t->is_special = sp;
    for (int i = t->n_ids; i < n_ids; i++) {
        t->piece[i] = NULL;
        t->piece_len[i] = 0;
        t->is_special[i] = 0;
    }
    t->n_ids = n_ids;
    return 0;
}

int tk_set_piece(sn_tokenizer *t, int32_t id, const char *s, size_t n) {
    if (id < 0 || id >= t->n_ids) return -1;
    char *c = malloc(n + 1);
    if (!c) return -1;
    memcpy(c, s, n);
    c[n] = 0;
    free(t->piece[id]);
    t->piece[id] = c;
    t->piece_len[id] = n;
    return 0;
}

/* --- tokenizer.json ----------------------------------------------------------------------- */

typedef struct {
    sn_tokenizer *t;
    char *err;
    size_t errcap;
} jctx;

static const char *jtype(const cJSON *o) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

static int jbool(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

/* A whole number in [lo, hi] (or *out untouched and 1 when absent/null and optional). */
static int jint(jctx *c, const cJSON *o, const char *where, const char *key, long lo, long hi,
                int optional, long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (optional) return 1;
        return sn_errf(c->err, c->errcap, "%s: %s has no \"%s\"", c->t->path, where, key);
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble ||
        v->valuedouble < lo || v->valuedouble > hi)
        return sn_errf(c->err, c->errcap, "%s: %s: \"%s\" must be a whole number in [%ld, %ld]",
                    c->t->path, where, key, lo, hi);
    *out = (long)v->valuedouble;
    return 0;
}

/* A string or null: returns 1 and sets *out to a malloc'd copy (NULL for null/absent). */
static int jstr_opt(jctx *c, const cJSON *o, const char *where, const char *key, char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v))
        return sn_errf(c->err, c->errcap, "%s: %s: \"%s\" must be a string", c->t->path, where, key);
    *out = strdup(v->valuestring);
    if (!*out) return sn_errf(c->err, c->errcap, "out of memory");
    return 0;
}

static int valid_text(const char *s) {
    size_t bad;
    return !tk_utf8_check(s, strlen(s), &bad);
}

static int b64_value(int ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

/* Standard base64 (padding optional). Returns malloc'd bytes or NULL when malformed. */
static unsigned char *b64_decode(const char *s, size_t *n) {
    size_t len = strlen(s);
    unsigned char *out = malloc(len / 4 * 3 + 3);
    if (!out) return NULL;
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0, i = 0;
    for (; i < len && s[i] != '='; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (unsigned char)(acc >> bits);
        }
    }
    for (; i < len; i++)
        if (s[i] != '=') {
            free(out);
            return NULL;
        }
    *n = k;
    return out;
}

static int add_norm(jctx *c, tk_norm n) {
    sn_tokenizer *t = c->t;
    tk_norm *v = realloc(t->norms, (size_t)(t->n_norms + 1) * sizeof *v);
    if (!v) {
        free(n.pattern);
        free(n.content);
        tk_charsmap_free(&n.cm);
        return sn_errf(c->err, c->errcap, "out of memory");
    }
    t->norms = v;
    t->norms[t->n_norms++] = n;
    return 0;
}

static int parse_normalizer(jctx *c, const cJSON *o, int depth) {
    if (!o || cJSON_IsNull(o)) return 0;
    const char *ty = cJSON_IsObject(o) ? jtype(o) : NULL;
    if (!ty)
        return sn_errf(c->err, c->errcap, "%s: normalizer: an entry without a \"type\"", c->t->path);
    if (depth > 8) return sn_errf(c->err, c->errcap, "%s: normalizer: nested too deeply", c->t->path);
    tk_norm n;
    memset(&n, 0, sizeof n);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "normalizers");
        if (!cJSON_IsArray(list))
            return sn_errf(c->err, c->errcap, "%s: normalizer Sequence has no \"normalizers\" list",
                        c->t->path);
        for (const cJSON *e = list->child; e; e = e->next)
            if (parse_normalizer(c, e, depth + 1)) return -1;
        return 0;
    }
    if (!strcmp(ty, "NFC"))
        n.kind = TK_N_NFC;
    else if (!strcmp(ty, "NFD"))
        n.kind = TK_N_NFD;
    else if (!strcmp(ty, "NFKC"))
        n.kind = TK_N_NFKC;
    else if (!strcmp(ty, "NFKD"))
        n.kind = TK_N_NFKD;
    else if (!strcmp(ty, "Lowercase"))
        n.kind = TK_N_LOWER;
    else if (!strcmp(ty, "StripAccents"))
        n.kind = TK_N_STRIP_ACCENTS;
    else if (!strcmp(ty, "Nmt"))
        n.kind = TK_N_NMT;
    else if (!strcmp(ty, "Strip")) {
        n.kind = TK_N_STRIP;
        n.left = jbool(o, "strip_left", jbool(o, "left", 1));
        n.right = jbool(o, "strip_right", jbool(o, "right", 1));
    } else if (!strcmp(ty, "Prepend")) {
        n.kind = TK_N_PREPEND;
        if (jstr_opt(c, o, "normalizer Prepend", "prepend", &n.content)) return -1;
        if (!n.content || !valid_text(n.content)) {
            free(n.content);
            return sn_errf(c->err, c->errcap, "%s: normalizer Prepend needs a UTF-8 \"prepend\"",
                        c->t->path);
        }
    } else if (!strcmp(ty, "Replace")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(o, "pattern");
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(pat, "String");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        if (jstr_opt(c, o, "normalizer Replace", "content", &n.content)) return -1;
        if (!n.content || !valid_text(n.content) ||
            (cJSON_IsString(ps) && !valid_text(ps->valuestring))) {
            free(n.content);
            return sn_errf(c->err, c->errcap,
                        "%s: normalizer Replace needs UTF-8 \"pattern\" and \"content\"",
                        c->t->path);
        }
        if (cJSON_IsString(ps) && ps->valuestring[0]) {
            n.kind = TK_N_REPLACE_STR;
            n.pattern = strdup(ps->valuestring);
        } else if (cJSON_IsString(pr)) {
            const char *r = pr->valuestring;
            int k = 0, len = 0;
            if (!strcmp(r, "\\s+")) {
                n.kind = TK_N_REPLACE_SPACES;
            } else if (!strcmp(r, " +")) {
                n.kind = TK_N_REPLACE_MIN_SPACES;
                n.min_run = 1;
            } else if (sscanf(r, " {%d,}%n", &k, &len) == 1 && len == (int)strlen(r) && k >= 1 &&
                       k < 1000) {
                n.kind = TK_N_REPLACE_MIN_SPACES;
                n.min_run = k;
            } else {
                free(n.content);
                return sn_errf(c->err, c->errcap,
                            "%s: normalizer Replace with the regex '%.80s' is not supported "
                            "(sinter knows '\\s+', ' +' and ' {N,}')",
                            c->t->path, r);
            }
        } else {
            free(n.content);
            return sn_errf(c->err, c->errcap,
                        "%s: normalizer Replace needs a non-empty \"pattern\" "
                        "{\"String\": ...} or {\"Regex\": ...}",
                        c->t->path);
        }
    } else if (!strcmp(ty, "Precompiled")) {
        const cJSON *cm = cJSON_GetObjectItemCaseSensitive(o, "precompiled_charsmap");
        size_t len;
        unsigned char *blob = cJSON_IsString(cm) ? b64_decode(cm->valuestring, &len) : NULL;
        const char *why = "it is not base64";
        if (!blob || tk_charsmap_init(&n.cm, blob, len, &why)) {
            free(blob);
            return sn_errf(c->err, c->errcap,
                        "%s: normalizer Precompiled: bad \"precompiled_charsmap\": %s", c->t->path,
                        cJSON_IsString(cm) ? why : "missing");
        }
        free(blob);
        n.kind = TK_N_PRECOMPILED;
    } else {
        return sn_errf(c->err, c->errcap,
                    "%s: normalizer '%s' is not supported (sinter knows NFC, NFD, NFKC, NFKD, "
                    "Lowercase, Strip, StripAccents, Replace, Precompiled, Nmt, Prepend, Sequence)",
                    c->t->path, ty);
    }
    return add_norm(c, n);
}

static int add_pre(jctx *c, tk_pre p) {
    sn_tokenizer *t = c->t;
    tk_pre *v = realloc(t->pres, (size_t)(t->n_pres + 1) * sizeof *v);
    if (!v) return sn_errf(c->err, c->errcap, "out of memory");
    t->pres = v;
    t->pres[t->n_pres++] = p;
    return 0;
}

/* A regex with "[\p{L}]" and "[\p{N}]" written as "\p{L}" and "\p{N}" (truncated to cap). */
static void canonical_pattern(const char *r, char *out, size_t cap) {
    size_t k = 0;
    while (*r && k + 1 < cap) {
        if ((!strncmp(r, "[\\p{L}]", 7) || !strncmp(r, "[\\p{N}]", 7)) && k + 6 < cap) {
            memcpy(out + k, r + 1, 5);
            k += 5;
            r += 7;
        } else {
            out[k++] = *r++;
        }
    }
    out[k] = 0;
}

static int parse_pre_tokenizer(jctx *c, const cJSON *o, int depth) {
    if (!o || cJSON_IsNull(o)) return 0;
    const char *ty = cJSON_IsObject(o) ? jtype(o) : NULL;
    if (!ty)
        return sn_errf(c->err, c->errcap, "%s: pre_tokenizer: an entry without a \"type\"",
                    c->t->path);
    if (depth > 8)
        return sn_errf(c->err, c->errcap, "%s: pre_tokenizer: nested too deeply", c->t->path);
    tk_pre p;
    memset(&p, 0, sizeof p);
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "pretokenizers");
        if (!cJSON_IsArray(list))
            return sn_errf(c->err, c->errcap,
                        "%s: pre_tokenizer Sequence has no \"pretokenizers\" list", c->t->path);
        for (const cJSON *e = list->child; e; e = e->next)
            if (parse_pre_tokenizer(c, e, depth + 1)) return -1;
        return 0;
    }
    if (!strcmp(ty, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(o, "pattern");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(o, "behavior");
        int invert = jbool(o, "invert", 0);
        const char *r = cJSON_IsString(pr) ? pr->valuestring : "";
        int icase = !strncmp(r, "(?i)", 4);
        if (icase) r += 4;
        /* "[\p{L}]" and "\p{L}" are the same class: compare without the brackets */
        char canon[256], want[256], want_plain[256];
        canonical_pattern(r, canon, sizeof canon);
        canonical_pattern(CLIP_PATTERN, want, sizeof want);
        canonical_pattern(CLIP_PATTERN_PLAIN, want_plain, sizeof want_plain);
        int with_specials = !strcmp(canon, want);
        int known = with_specials || !strcmp(canon, want_plain);
        if (!known || !invert || !cJSON_IsString(beh) || strcmp(beh->valuestring, "Removed")) {
            char what[160];
            const cJSON *ps = cJSON_GetObjectItemCaseSensitive(pat, "String");
            snprintf(what, sizeof what, "%s '%.100s'", cJSON_IsString(pr) ? "regex" : "string",
                     cJSON_IsString(pr)   ? pr->valuestring
                     : cJSON_IsString(ps) ? ps->valuestring
                                          : "?");
            return sn_errf(c->err, c->errcap,
                        "%s: pre_tokenizer Split on the %s (behavior %s, invert %s) is not "
                        "supported: sinter knows CLIP's pattern, removed, inverted",
                        c->t->path, what, cJSON_IsString(beh) ? beh->valuestring : "?",
                        invert ? "true" : "false");
        }
        p.kind = TK_P_CLIP_SPLIT;
        p.with_specials = with_specials;
        p.icase = icase;
    } else if (!strcmp(ty, "ByteLevel")) {
        p.kind = TK_P_BYTE_LEVEL;
        p.add_prefix_space = jbool(o, "add_prefix_space", 1);
        p.use_regex = jbool(o, "use_regex", 1);
    } else if (!strcmp(ty, "WhitespaceSplit")) {
        p.kind = TK_P_WHITESPACE_SPLIT;
    } else if (!strcmp(ty, "Metaspace")) {
        p.kind = TK_P_METASPACE;
        const cJSON *rep = cJSON_GetObjectItemCaseSensitive(o, "replacement");
        int rl;
        if (!cJSON_IsString(rep) || !rep->valuestring[0] || !valid_text(rep->valuestring) ||
            (size_t)tk_utf8_len((unsigned char)rep->valuestring[0]) != strlen(rep->valuestring) ||
            (rl = (int)strlen(rep->valuestring)) > 4)
            return sn_errf(c->err, c->errcap,
                        "%s: pre_tokenizer Metaspace: \"replacement\" must be one character",
                        c->t->path);
        memcpy(p.replacement, rep->valuestring, (size_t)rl + 1);
        const cJSON *sch = cJSON_GetObjectItemCaseSensitive(o, "prepend_scheme");
        p.prepend = TK_PREPEND_ALWAYS;
        if (cJSON_IsString(sch)) {
            if (!strcmp(sch->valuestring, "always"))
                p.prepend = TK_PREPEND_ALWAYS;
            else if (!strcmp(sch->valuestring, "first"))
                p.prepend = TK_PREPEND_FIRST;
            else if (!strcmp(sch->valuestring, "never"))
                p.prepend = TK_PREPEND_NEVER;
            else
                return sn_errf(c->err, c->errcap,
                            "%s: pre_tokenizer Metaspace: unknown prepend_scheme '%s'", c->t->path,
                            sch->valuestring);
        }
        if (!jbool(o, "add_prefix_space", 1)) p.prepend = TK_PREPEND_NEVER;
        p.split = jbool(o, "split", 1);
    } else {
        return sn_errf(c->err, c->errcap,
                    "%s: pre_tokenizer '%s' is not supported (sinter knows Split with CLIP's "
                    "pattern, ByteLevel, Metaspace, WhitespaceSplit, Sequence)",
                    c->t->path, ty);
    }
    return add_pre(c, p);
}

static int push_special(jctx *c, int before, int32_t id) {
    sn_tokenizer *t = c->t;
    int32_t **v = before ? &t->prefix_ids : &t->suffix_ids;
    int *n = before ? &t->n_prefix : &t->n_suffix;
    int32_t *nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
    if (!nv) return sn_errf(c->err, c->errcap, "out of memory");
    nv[(*n)++] = id;
    *v = nv;
    return 0;
}

/* ["<|endoftext|>", 49407] */
static int special_pair(jctx *c, const cJSON *o, const char *key, const char *what, int32_t *id) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    const cJSON *idv = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, 1) : NULL;
    if (!cJSON_IsNumber(idv) || idv->valuedouble < 0 || idv->valuedouble > 16777216)
        return sn_errf(c->err, c->errcap, "%s: post_processor %s: \"%s\" must be [token, id]",
                    c->t->path, what, key);
    *id = (int32_t)idv->valuedouble;
    return 0;
}

static int parse_post(jctx *c, const cJSON *o, int depth) {
    if (!o || cJSON_IsNull(o)) return 0;
    const char *ty = cJSON_IsObject(o) ? jtype(o) : NULL;
    if (!ty)
        return sn_errf(c->err, c->errcap, "%s: post_processor: an entry without a \"type\"",
                    c->t->path);
    if (depth > 8)
        return sn_errf(c->err, c->errcap, "%s: post_processor: nested too deeply", c->t->path);
    sn_tokenizer *t = c->t;
    if (!strcmp(ty, "ByteLevel")) return 0; /* offsets only */
    if (!strcmp(ty, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "processors");
        if (!cJSON_IsArray(list))
            return sn_errf(c->err, c->errcap, "%s: post_processor Sequence has no \"processors\" list",
                        t->path);
        for (const cJSON *e = list->child; e; e = e->next)
            if (parse_post(c, e, depth + 1)) return -1;
        return 0;
    }
    if (!strcmp(ty, "RobertaProcessing") || !strcmp(ty, "BertProcessing")) {
        int32_t cls = 0, sep = 0;
        if (special_pair(c, o, "cls", ty, &cls) || special_pair(c, o, "sep", ty, &sep)) return -1;
        /* an outer processor wraps an inner one */
        if (push_special(c, 1, cls) || push_special(c, 0, sep)) return -1;
        memmove(t->prefix_ids + 1, t->prefix_ids,
                (size_t)(t->n_prefix - 1) * sizeof *t->prefix_ids);
        t->prefix_ids[0] = cls;
        return 0;
    }
    if (!strcmp(ty, "TemplateProcessing")) {
        const cJSON *single = cJSON_GetObjectItemCaseSensitive(o, "single");
        const cJSON *specials = cJSON_GetObjectItemCaseSensitive(o, "special_tokens");
        if (!cJSON_IsArray(single))
            return sn_errf(c->err, c->errcap,
                        "%s: post_processor TemplateProcessing has no \"single\" list", t->path);
        int seen_a = 0, n_before = 0;
        int32_t buf_pre[64];
        for (const cJSON *e = single->child; e; e = e->next) {
            const cJSON *seq = cJSON_GetObjectItemCaseSensitive(e, "Sequence");
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
            if (seq) {
                const cJSON *sid = cJSON_GetObjectItemCaseSensitive(seq, "id");
                if (seen_a || !cJSON_IsString(sid) || strcmp(sid->valuestring, "A"))
                    return sn_errf(c->err, c->errcap,
                                "%s: post_processor TemplateProcessing: the single "
                                "template must hold the sequence $A once",
                                t->path);
                seen_a = 1;
                continue;
            }
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(sp, "id");
            const cJSON *def = cJSON_IsString(name)
                                   ? cJSON_GetObjectItemCaseSensitive(specials, name->valuestring)
                                   : NULL;
            const cJSON *ids = cJSON_GetObjectItemCaseSensitive(def, "ids");
            if (!cJSON_IsArray(ids))
                return sn_errf(c->err, c->errcap,
                            "%s: post_processor TemplateProcessing: special token "
                            "'%s' has no ids in \"special_tokens\"",
                            t->path, cJSON_IsString(name) ? name->valuestring : "?");
            for (const cJSON *x = ids->child; x; x = x->next) {
                if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble > 16777216)
                    return sn_errf(c->err, c->errcap,
                                "%s: post_processor TemplateProcessing: a bad id", t->path);
                if (!seen_a) {
                    if (n_before >= 64)
                        return sn_errf(c->err, c->errcap,
                                    "%s: post_processor: too many special tokens", t->path);
                    buf_pre[n_before++] = (int32_t)x->valuedouble;
                } else if (push_special(c, 0, (int32_t)x->valuedouble)) {
                    return -1;
                }
            }
        }
        if (!seen_a)
            return sn_errf(c->err, c->errcap,
                        "%s: post_processor TemplateProcessing: the single template "
                        "has no $A",
                        t->path);
        if (!n_before) return 0;
        for (int i = 0; i < n_before; i++)
            if (push_special(c, 1, 0)) return -1;
        memmove(t->prefix_ids + n_before, t->prefix_ids,
                (size_t)(t->n_prefix - n_before) * sizeof *t->prefix_ids);
        memcpy(t->prefix_ids, buf_pre, (size_t)n_before * sizeof *buf_pre);
        return 0;
    }
    return sn_errf(c->err, c->errcap,
                "%s: post_processor '%s' is not supported (sinter knows TemplateProcessing, "
                "RobertaProcessing, BertProcessing, ByteLevel, Sequence)",
                t->path, ty);
}

static int parse_bpe(jctx *c, const cJSON *m) {
    sn_tokenizer *t = c->t;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(m, "merges");
    if (!cJSON_IsObject(vocab))
        return sn_errf(c->err, c->errcap, "%s: model BPE: \"vocab\" must be an object of token -> id",
                    t->path);
    if (!cJSON_IsArray(merges))
        return sn_errf(c->err, c->errcap, "%s: model BPE: \"merges\" must be a list", t->path);
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (cJSON_IsNumber(drop) && drop->valuedouble > 0)
        return sn_errf(c->err, c->errcap,
                    "%s: model BPE has dropout %g: tokenizing would be random "
                    "(sinter tokenizes deterministically)",
                    t->path, drop->valuedouble);
    int max_id = -1;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 16777216 ||
            e->valuedouble != (double)(int)e->valuedouble)
            return sn_errf(c->err, c->errcap,
                        "%s: model BPE: the id of '%.60s' is not a whole number "
                        "in [0, 2^24]",
                        t->path, e->string);
        if ((int)e->valuedouble > max_id) max_id = (int)e->valuedouble;
    }
    if (max_id < 0)
        return sn_errf(c->err, c->errcap, "%s: model BPE: the vocabulary is empty", t->path);
    if (tk_grow_ids(t, max_id + 1)) return sn_errf(c->err, c->errcap, "out of memory");
    for (const cJSON *e = vocab->child; e; e = e->next) {
        size_t n = strlen(e->string);
        if (tk_map_put(&t->vocab, e->string, n, (int32_t)e->valuedouble) ||
            tk_set_piece(t, (int32_t)e->valuedouble, e->string, n))
            return sn_errf(c->err, c->errcap, "out of memory");
    }
    if (jstr_opt(c, m, "model BPE", "unk_token", &t->unk_token) ||
        jstr_opt(c, m, "model BPE", "continuing_subword_prefix", &t->cont_prefix) ||
        jstr_opt(c, m, "model BPE", "end_of_word_suffix", &t->eow_suffix))
        return -1;
    t->fuse_unk = jbool(m, "fuse_unk", 0);
    t->byte_fallback = jbool(m, "byte_fallback", 0);
    t->ignore_merges = jbool(m, "ignore_merges", 0);
    t->unk_id = -1;
    if (t->unk_token) tk_map_get(&t->vocab, t->unk_token, strlen(t->unk_token), &t->unk_id);
    size_t prefix_len = t->cont_prefix ? strlen(t->cont_prefix) : 0;
    tk_str merged = {0};
    int rank = 0;
    for (const cJSON *e = merges->child; e; e = e->next, rank++) {
        const char *a, *b;
        size_t an, bn;
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring, *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                tk_str_free(&merged);
                return sn_errf(c->err, c->errcap,
                            "%s: model BPE: merge %d ('%.60s') is not two tokens "
                            "separated by one space",
                            t->path, rank, s);
            }
            a = s;
            an = (size_t)(sp - s);
            b = sp + 1;
            bn = strlen(b);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            a = cJSON_GetArrayItem(e, 0)->valuestring;
            b = cJSON_GetArrayItem(e, 1)->valuestring;
            an = strlen(a);
            bn = strlen(b);
        } else {
            tk_str_free(&merged);
            return sn_errf(c->err, c->errcap,
                        "%s: model BPE: merge %d is neither \"a b\" nor [\"a\", \"b\"]", t->path,
                        rank);
        }
        int32_t ia, ib, im;
        if (!tk_map_get(&t->vocab, a, an, &ia) || !tk_map_get(&t->vocab, b, bn, &ib)) {
            tk_str_free(&merged);
            return sn_errf(c->err, c->errcap,
                        "%s: model BPE: merge %d ('%.*s' '%.*s') uses a token that "
                        "is not in the vocabulary",
                        t->path, rank, (int)an, a, (int)bn, b);
        }
        if (bn < prefix_len) {
            tk_str_free(&merged);
            return sn_errf(c->err, c->errcap,
                        "%s: model BPE: merge %d: '%.*s' is shorter than the "
                        "continuing_subword_prefix",
                        t->path, rank, (int)bn, b);
        }
        merged.n = 0;
        tk_str_put(&merged, a, an);
        tk_str_put(&merged, b + prefix_len, bn - prefix_len);
        if (merged.bad) return sn_errf(c->err, c->errcap, "out of memory");
        if (!tk_map_get(&t->vocab, merged.p, merged.n, &im)) {
            int r = sn_errf(c->err, c->errcap,
                         "%s: model BPE: merge %d ('%.*s' '%.*s') makes '%.*s', "
                         "which is not in the vocabulary",
                         t->path, rank, (int)an, a, (int)bn, b, (int)merged.n, merged.p);
            tk_str_free(&merged);
            return r;
        }
        if (tk_pairmap_put(&t->merges, ia, ib, rank, im)) {
            tk_str_free(&merged);
            return sn_errf(c->err, c->errcap, "out of memory");
        }
    }
    tk_str_free(&merged);
    return 0;
}

static int parse_unigram(jctx *c, const cJSON *m) {
    sn_tokenizer *t = c->t;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    if (!cJSON_IsArray(vocab) || !vocab->child)
        return sn_errf(c->err, c->errcap,
                    "%s: model Unigram: \"vocab\" must be a non-empty list of "
                    "[piece, score]",
                    t->path);
    int n = cJSON_GetArraySize(vocab);
    if (n > 16777216) return sn_errf(c->err, c->errcap, "%s: model Unigram: too many pieces", t->path);
    if (tk_grow_ids(t, n)) return sn_errf(c->err, c->errcap, "out of memory");
    t->score = malloc((size_t)n * sizeof *t->score);
    if (!t->score) return sn_errf(c->err, c->errcap, "out of memory");
    t->min_score = 1e300;
    int i = 0;
    for (const cJSON *e = vocab->child; e; e = e->next, i++) {
        const cJSON *p = cJSON_GetArrayItem(e, 0), *s = cJSON_GetArrayItem(e, 1);
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsString(p) ||
            !cJSON_IsNumber(s))
            return sn_errf(c->err, c->errcap,
                        "%s: model Unigram: vocab entry %d is not [piece, score]", t->path, i);
        size_t len = strlen(p->valuestring);
        if (tk_map_put(&t->vocab, p->valuestring, len, i) ||
            tk_set_piece(t, i, p->valuestring, len))
            return sn_errf(c->err, c->errcap, "out of memory");
        t->score[i] = s->valuedouble;
        if (s->valuedouble < t->min_score) t->min_score = s->valuedouble;
        if (len > t->max_piece_len) t->max_piece_len = len;
    }
    long unk = -1;
    int r = jint(c, m, "model Unigram", "unk_id", 0, n - 1, 1, &unk);
    if (r < 0) return -1;
    t->unk_id = (int32_t)unk;
    t->byte_fallback = jbool(m, "byte_fallback", 0);
    return 0;
}

static int parse_added(jctx *c, const cJSON *list) {
    sn_tokenizer *t = c->t;
    if (!list || cJSON_IsNull(list)) return 0;
    if (!cJSON_IsArray(list))
        return sn_errf(c->err, c->errcap, "%s: \"added_tokens\" must be a list", t->path);
    int n = cJSON_GetArraySize(list), i = 0;
    t->added = calloc((size_t)(n ? n : 1), sizeof *t->added);
    if (!t->added) return sn_errf(c->err, c->errcap, "out of memory");
    for (const cJSON *e = list->child; e; e = e->next, i++) {
        long id;
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        char where[48];
        snprintf(where, sizeof where, "added token %d", i);
        if (!cJSON_IsString(content) || !valid_text(content->valuestring))
            return sn_errf(c->err, c->errcap, "%s: %s has no UTF-8 \"content\"", t->path, where);
        if (jint(c, e, where, "id", 0, 16777216, 0, &id)) return -1;
        if (!content->valuestring[0]) continue; /* tokenizers ignores empty ones */
        tk_added *a = &t->added[t->n_added++];
        a->len = strlen(content->valuestring);
        a->content = strdup(content->valuestring);
        if (!a->content) return sn_errf(c->err, c->errcap, "out of memory");
        a->id = (int32_t)id;
        a->single_word = jbool(e, "single_word", 0);
        a->lstrip = jbool(e, "lstrip", 0);
        a->rstrip = jbool(e, "rstrip", 0);
        a->special = jbool(e, "special", 0);
        a->normalized = jbool(e, "normalized", !a->special);
        if (tk_grow_ids(t, (int)id + 1)) return sn_errf(c->err, c->errcap, "out of memory");
        if (!t->piece[id] && tk_set_piece(t, (int32_t)id, a->content, a->len))
            return sn_errf(c->err, c->errcap, "out of memory");
        if (a->special) t->is_special[id] = 1;
    }
    return 0;
}

/* The normalizer chain applied to s[0..n) (appended to out). */
static void run_normalizers(const sn_tokenizer *t, const char *s, size_t n, tk_str *out);

static int load_json_impl(sn_tokenizer *t, const cJSON *root, char *err, size_t errcap) {
    jctx c = {t, err, errcap};
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model))
        return sn_errf(err, errcap, "%s: tokenizer.json has no \"model\" object", t->path);
    const char *ty = jtype(model);
    if (!ty) /* untagged, as very old files are */
        ty = cJSON_GetObjectItemCaseSensitive(model, "merges")                 ? "BPE"
             : cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(model, "vocab")) ? "Unigram"
                                                                               : "?";
    if (!strcmp(ty, "BPE")) {
        t->kind = TK_BPE;
        if (parse_bpe(&c, model)) return -1;
    } else if (!strcmp(ty, "Unigram")) {
        t->kind = TK_UNIGRAM;
        if (parse_unigram(&c, model)) return -1;
    } else {
        return sn_errf(err, errcap,
                    "%s: model type '%s' is not supported (sinter reads BPE and Unigram "
                    "tokenizers)",
                    t->path, ty);
    }
    for (int b = 0; b < 256; b++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        if (!tk_map_get(&t->vocab, hex, 6, &t->byte_piece[b])) t->byte_piece[b] = -1;
    }
    if (parse_added(&c, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"))) return -1;
    if (parse_normalizer(&c, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), 0)) return -1;
    if (parse_pre_tokenizer(&c, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), 0))
        return -1;
    if (parse_post(&c, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), 0)) return -1;
    for (int i = 0; i < t->n_prefix; i++)
        if (t->prefix_ids[i] >= t->n_ids)
            return sn_errf(err, errcap,
                        "%s: post_processor: special token id %d is outside the vocabulary",
                        t->path, (int)t->prefix_ids[i]);
    for (int i = 0; i < t->n_suffix; i++)
        if (t->suffix_ids[i] >= t->n_ids)
            return sn_errf(err, errcap,
                        "%s: post_processor: special token id %d is outside the vocabulary",
                        t->path, (int)t->suffix_ids[i]);
    for (int i = 0; i < t->n_added; i++) {
        tk_added *a = &t->added[i];
        if (!a->normalized) continue;
        tk_str s = {0};
        run_normalizers(t, a->content, a->len, &s);
        a->norm_len = s.n;
        a->norm_content = tk_str_take(&s);
        if (!a->norm_content) return sn_errf(err, errcap, "out of memory");
    }

    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(root, "truncation");
    if (tr && !cJSON_IsNull(tr)) {
        long ml;
        if (jint(&c, tr, "truncation", "max_length", 0, 1 << 30, 0, &ml)) return -1;
        const cJSON *dir = cJSON_GetObjectItemCaseSensitive(tr, "direction");
        const cJSON *strat = cJSON_GetObjectItemCaseSensitive(tr, "strategy");
        if (cJSON_IsString(strat) && !strcmp(strat->valuestring, "OnlySecond"))
            return sn_errf(err, errcap, "%s: truncation strategy OnlySecond needs a pair of sequences",
                        t->path);
        t->trunc_max = (int)ml;
        t->trunc_left = cJSON_IsString(dir) && !strcmp(dir->valuestring, "Left");
    }
    const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "padding");
    t->pad_id = -1;
    if (pad && !cJSON_IsNull(pad)) {
        const cJSON *strat = cJSON_GetObjectItemCaseSensitive(pad, "strategy");
        const cJSON *fixed = cJSON_GetObjectItemCaseSensitive(strat, "Fixed");
        const cJSON *dir = cJSON_GetObjectItemCaseSensitive(pad, "direction");
        long id = 0, mult = 0;
        if (cJSON_IsNumber(fixed)) {
            if (fixed->valuedouble < 0 || fixed->valuedouble > (1 << 30))
                return sn_errf(err, errcap, "%s: padding: a bad Fixed length", t->path);
            t->pad_fixed = (int)fixed->valuedouble;
        } else if (!(cJSON_IsString(strat) && !strcmp(strat->valuestring, "BatchLongest"))) {
            return sn_errf(err, errcap,
                        "%s: padding: strategy must be \"BatchLongest\" or {\"Fixed\": N}",
                        t->path);
        }
        if (jint(&c, pad, "padding", "pad_id", 0, 16777216, 1, &id) < 0) return -1;
        if (jint(&c, pad, "padding", "pad_to_multiple_of", 0, 1 << 20, 1, &mult) < 0) return -1;
        t->pad_id = (int32_t)id;
        t->pad_multiple = (int)mult;
        t->pad_left = cJSON_IsString(dir) && !strcmp(dir->valuestring, "Left");
    }
    return 0;
}

int tk_load_json(sn_tokenizer *t, const cJSON *root, char *err, size_t errcap) {
    return load_json_impl(t, root, err, errcap);
}

/* --- the pipeline ------------------------------------------------------------------------- */

static void strip_ws(const char *s, size_t n, int left, int right, tk_str *out) {
    size_t a = 0, b = n;
    if (left)
        while (a < b) {
            int len;
            uint32_t ch = tk_utf8_next(s + a, &len);
            if (!tk_is_space(ch)) break;
            a += (size_t)len;
        }
    if (right)
        while (b > a) {
            size_t p = b - 1;
            while (p > a && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
            int len;
            if (!tk_is_space(tk_utf8_next(s + p, &len))) break;
            b = p;
        }
    tk_str_put(out, s + a, b - a);
}

static void norm_step(const tk_norm *nm, const char *s, size_t n, tk_str *out) {
    size_t i = 0;
    switch (nm->kind) {
    case TK_N_NFC: tk_unicode_norm(TK_NFC, s, n, out); return;
    case TK_N_NFD: tk_unicode_norm(TK_NFD, s, n, out); return;
    case TK_N_NFKC: tk_unicode_norm(TK_NFKC, s, n, out); return;
    case TK_N_NFKD: tk_unicode_norm(TK_NFKD, s, n, out); return;
    case TK_N_LOWER: tk_lowercase(s, n, out); return;
    case TK_N_STRIP: strip_ws(s, n, nm->left, nm->right, out); return;
    case TK_N_PRECOMPILED: tk_charsmap_apply_hf(&nm->cm, s, n, out); return;
    case TK_N_PREPEND:
        if (n) tk_str_puts(out, nm->content);
        tk_str_put(out, s, n);
        return;
    case TK_N_REPLACE_STR: {
        size_t pl = strlen(nm->pattern);
        while (i < n) {
            if (i + pl <= n && !memcmp(s + i, nm->pattern, pl)) {
                tk_str_puts(out, nm->content);
                i += pl;
            } else {
                tk_str_putc(out, s[i++]);
            }
        }
        return;
    }
    default: break;
    }
    while (i < n) { /* per-character steps */
        int len;
        uint32_t c = tk_utf8_next(s + i, &len);
        if (nm->kind == TK_N_STRIP_ACCENTS) {
            if (!tk_is_mark(c)) tk_str_put(out, s + i, (size_t)len);
        } else if (nm->kind == TK_N_NMT) {
            if ((c >= 1 && c <= 8) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
                c == 0x8F || c == 0x9F) {
            } else if (c == 9 || c == 10 || c == 12 || c == 13 || c == 0x1680 ||
                       (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 ||
                       c == 0xFEFF || c == 0xFFFD) {
                tk_str_putc(out, ' ');
            } else {
                tk_str_put(out, s + i, (size_t)len);
            }
        } else if (nm->kind == TK_N_REPLACE_SPACES) {
            if (tk_is_space(c)) {
                size_t j = i + (size_t)len;
                while (j < n) {
                    int l2;
                    if (!tk_is_space(tk_utf8_next(s + j, &l2))) break;
                    j += (size_t)l2;
                }
                tk_str_puts(out, nm->content);
                i = j;
                continue;
            }
            tk_str_put(out, s + i, (size_t)len);
        } else if (nm->kind == TK_N_REPLACE_MIN_SPACES) {
            if (c == ' ') {
                size_t j = i;
                while (j < n && s[j] == ' ') j++;
                if ((int)(j - i) >= nm->min_run)
                    tk_str_puts(out, nm->content);
                else
                    tk_str_put(out, s + i, j - i);
                i = j;
                continue;
            }
            tk_str_put(out, s + i, (size_t)len);
        }
        i += (size_t)len;
    }
}

static void run_normalizers(const sn_tokenizer *t, const char *s, size_t n, tk_str *out) {
    tk_str a = {0}, b = {0};
    tk_str_put(&a, s, n);
    for (int k = 0; k < t->n_norms && !a.bad; k++) {
        b.n = 0;
        if (b.p) b.p[0] = 0;
        norm_step(&t->norms[k], a.p ? a.p : "", a.n, &b);
        if (b.bad) a.bad = 1;
        tk_str tmp = a;
        a = b;
        b = tmp;
    }
    if (a.bad)
        out->bad = 1;
    else
        tk_str_put(out, a.p ? a.p : "", a.n);
    tk_str_free(&a);
    tk_str_free(&b);
}

typedef struct {
    char *s;
    size_t n;
    int32_t id; /* >= 0: an added token, already final */
    int first;  /* starts where the text starts (Metaspace's "first" scheme) */
} seg;

typedef struct {
    seg *v;
    int n, cap, bad;
} segs;

static void segs_push(segs *a, const char *s, size_t n, int32_t id, int first) {
    if (a->bad) return;
    if (id < 0 && !n) return; /* empty pieces vanish */
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        seg *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) {
            a->bad = 1;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    char *c = malloc(n + 1);
    if (!c) {
        a->bad = 1;
        return;
    }
    memcpy(c, s, n);
    c[n] = 0;
    a->v[a->n++] = (seg){c, n, id, first};
}

static void segs_free(segs *a) {
    for (int i = 0; i < a->n; i++) free(a->v[i].s);
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* Rust regex \w (Unicode): for added tokens that must be single words. */
static int is_word_char(uint32_t c) {
    if (c == '_' || c == 0x200C || c == 0x200D) return 1;
    if (tk_is_letter(c) || tk_is_mark(c)) return 1;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_PC;
}

static uint32_t last_char(const char *s, size_t n) {
    size_t p = n - 1;
    while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
    int len;
    return tk_utf8_next(s + p, &len);
}

/* Splits the added tokens of one kind (normalized or not) off a piece of text, leftmost
 * longest first, as tokenizers' AddedVocabulary does. */
static void split_added(const sn_tokenizer *t, const seg *in, int normalized, segs *out) {
    const char *s = in->s;
    size_t n = in->n, pos = 0, last = 0;
    while (pos < n) {
        int best = -1;
        size_t best_len = 0;
        for (int k = 0; k < t->n_added; k++) {
            const tk_added *a = &t->added[k];
            if (a->normalized != normalized) continue;
            const char *c = normalized ? a->norm_content : a->content;
            size_t cl = normalized ? a->norm_len : a->len;
            if (cl && cl > best_len && cl <= n - pos && c[0] == s[pos] && !memcmp(c, s + pos, cl)) {
                best = k;
                best_len = cl;
            }
        }
        if (best < 0) {
            pos++;
            continue;
        }
        const tk_added *a = &t->added[best];
        size_t start = pos, stop = pos + best_len;
        if (a->single_word) {
            int len;
            int ok_left = start == 0 || !is_word_char(last_char(s, start));
            int ok_right = stop == n || !is_word_char(tk_utf8_next(s + stop, &len));
            if (!ok_left || !ok_right) {
                pos = stop;
                continue;
            }
        }
        if (a->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                size_t p = ns - 1;
                while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
                int len;
                if (!tk_is_space(tk_utf8_next(s + p, &len))) break;
                ns = p;
            }
            start = ns > last ? ns : last;
        }
        if (a->rstrip) {
            while (stop < n) {
                int len;
                if (!tk_is_space(tk_utf8_next(s + stop, &len))) break;
                stop += (size_t)len;
            }
        }
        if (last < start) segs_push(out, s + last, start - last, -1, in->first && last == 0);
        segs_push(out, s + start, stop - start, a->id, 0);
        last = pos = stop;
    }
    if (last < n) segs_push(out, s + last, n - last, -1, in->first && last == 0);
}

typedef struct {
    segs *out;
    const char *base;
    int first;
} piece_ctx;

static int push_piece(void *vctx, const char *s, size_t n) {
    piece_ctx *c = vctx;
    segs_push(c->out, s, n, -1, c->first && s == c->base);
    return c->out->bad;
}

typedef struct {
    segs *out;
    const char *base;
    int first;
} bl_ctx;

static int push_byte_level(void *vctx, const char *s, size_t n) {
    bl_ctx *c = vctx;
    tk_str b = {0};
    tk_byte_level(s, n, &b);
    if (b.bad)
        c->out->bad = 1;
    else
        segs_push(c->out, b.p ? b.p : "", b.n, -1, c->first && s == c->base);
    tk_str_free(&b);
    return c->out->bad;
}

static void pre_step(const tk_pre *p, const seg *in, segs *out) {
    const char *s = in->s;
    size_t n = in->n;
    switch (p->kind) {
    case TK_P_CLIP_SPLIT: {
        piece_ctx c = {out, s, in->first};
        tk_split_clip(s, n, p->with_specials, p->icase, push_piece, &c);
        return;
    }
    case TK_P_BYTE_LEVEL: {
        tk_str tmp = {0};
        if (p->add_prefix_space && !(n && s[0] == ' ')) {
            tk_str_putc(&tmp, ' ');
            tk_str_put(&tmp, s, n);
            if (tmp.bad) {
                out->bad = 1;
                return;
            }
            s = tmp.p;
            n = tmp.n;
        }
        bl_ctx c = {out, s, in->first};
        if (p->use_regex)
            tk_split_gpt2(s, n, push_byte_level, &c);
        else
            push_byte_level(&c, s, n);
        tk_str_free(&tmp);
        return;
    }
    case TK_P_WHITESPACE_SPLIT: {
        size_t i = 0, start = 0;
        while (i < n) {
            int len;
            uint32_t ch = tk_utf8_next(s + i, &len);
            if (tk_is_space(ch)) {
                segs_push(out, s + start, i - start, -1, in->first && start == 0);
                start = i + (size_t)len;
            }
            i += (size_t)len;
        }
        segs_push(out, s + start, n - start, -1, in->first && start == 0);
        return;
    }
    case TK_P_METASPACE: {
        tk_str m = {0};
        size_t rl = strlen(p->replacement);
        int starts = n >= rl && !memcmp(s, p->replacement, rl);
        int prepend =
            p->prepend == TK_PREPEND_ALWAYS || (p->prepend == TK_PREPEND_FIRST && in->first);
        if (prepend && !starts && !(n && s[0] == ' ')) tk_str_puts(&m, p->replacement);
        for (size_t i = 0; i < n; i++) {
            if (s[i] == ' ')
                tk_str_puts(&m, p->replacement);
            else
                tk_str_putc(&m, s[i]);
        }
        if (m.bad) {
            out->bad = 1;
            return;
        }
        const char *x = m.p ? m.p : "";
        if (!p->split) {
            segs_push(out, x, m.n, -1, in->first);
        } else {
            size_t start = 0;
            for (size_t i = 1; i + rl <= m.n; i++)
                if (!memcmp(x + i, p->replacement, rl)) {
                    segs_push(out, x + start, i - start, -1, in->first && start == 0);
                    start = i;
                }
            segs_push(out, x + start, m.n - start, -1, in->first && start == 0);
        }
        tk_str_free(&m);
        return;
    }
    }
}

/* The prompt's tokens before truncation and special tokens. */
static int encode_content(const sn_tokenizer *t, const char *text, size_t n, tk_ids *ids, char *err,
                          size_t errcap) {
    if (t->format == TK_FMT_SPM) return tk_spm_encode(t, text, n, ids, err, errcap);
    segs a = {0}, b = {0};
    seg whole = {(char *)text, n, -1, 1};
    int rc = 0;
    /* 1. added tokens that match the raw text */
    split_added(t, &whole, 0, &a);
    /* 2. normalize the rest, then added tokens that match normalized text */
    for (int i = 0; i < a.n && !a.bad && !b.bad; i++) {
        seg *s = &a.v[i];
        if (s->id >= 0) {
            segs_push(&b, s->s, s->n, s->id, 0);
            continue;
        }
        tk_str nt = {0};
        size_t bad_at;
        run_normalizers(t, s->s, s->n, &nt);
        if (nt.bad) {
            b.bad = 1;
            break;
        }
        if (tk_utf8_check(nt.p ? nt.p : "", nt.n, &bad_at)) { /* a rule pointing mid-character */
            tk_str_free(&nt);
            segs_free(&a);
            segs_free(&b);
            return sn_errf(err, errcap,
                        "%s: the normalizer made invalid UTF-8 (a broken "
                        "precompiled_charsmap?)",
                        t->path);
        }
        seg ns = {nt.p ? nt.p : "", nt.n, -1, s->first};
        split_added(t, &ns, 1, &b);
        tk_str_free(&nt);
    }
    segs_free(&a);
    /* 3. pre-tokenizers */
    for (int k = 0; k < t->n_pres && !b.bad; k++) {
        segs c = {0};
        for (int i = 0; i < b.n && !c.bad; i++) {
            if (b.v[i].id >= 0)
                segs_push(&c, b.v[i].s, b.v[i].n, b.v[i].id, 0);
            else
                pre_step(&t->pres[k], &b.v[i], &c);
        }
        if (c.bad) b.bad = 1;
        segs_free(&b);
        b = c;
    }
    if (b.bad) {
        segs_free(&b);
        return sn_errf(err, errcap, "out of memory");
    }
    /* 4. the model */
    for (int i = 0; i < b.n && !rc; i++) {
        if (b.v[i].id >= 0)
            tk_ids_push(ids, b.v[i].id);
        else if (t->kind == TK_BPE)
            rc = tk_bpe_encode(t, b.v[i].s, b.v[i].n, ids, err, errcap);
        else
            rc = tk_unigram_encode_hf(t, b.v[i].s, b.v[i].n, ids, err, errcap);
    }
    segs_free(&b);
    if (!rc && ids->bad) rc = sn_errf(err, errcap, "out of memory");
    return rc;
}

int sn_tokenizer_encode(const sn_tokenizer *t, const char *text, const sn_tok_options *opt,
                        sn_tok_encoding *enc, char *err, size_t errcap) {
    static const sn_tok_options dflt = SN_TOK_DEFAULTS;
    if (!opt) opt = &dflt;
    memset(enc, 0, sizeof *enc);
    size_t n = strlen(text), bad;
    if (tk_utf8_check(text, n, &bad)) {
        const unsigned char *u = (const unsigned char *)text + bad;
        char seq[24] = "";
        for (int i = 0; i < 4 && bad + (size_t)i < n && (i == 0 || (u[i] & 0xC0) == 0x80); i++)
            snprintf(seq + strlen(seq), sizeof seq - strlen(seq), "%s%02X", i ? " " : "", u[i]);
        return sn_errf(err, errcap,
                    "the prompt is not valid UTF-8: bad byte sequence at byte %zu "
                    "(%s)",
                    bad, seq);
    }
    int n_special = opt->no_special ? 0 : t->n_prefix + t->n_suffix;
    int max_len = opt->max_length > 0 ? opt->max_length : opt->max_length == 0 ? t->trunc_max : 0;
    if (max_len > 0 && max_len < n_special)
        return sn_errf(err, errcap,
                    "a maximum length of %d leaves no room: the tokenizer adds %d "
                    "special tokens",
                    max_len, n_special);
    tk_ids content = {0};
    if (encode_content(t, text, n, &content, err, errcap)) {
        free(content.v);
        return -1;
    }
    int nc = content.n, dropped = 0, off = 0;
    if (max_len > 0 && nc > max_len - n_special) {
        dropped = nc - (max_len - n_special);
        if (t->trunc_left) off = dropped;
        nc -= dropped;
    }
    int n_tok = nc + n_special;
    int pad_to = 0;
    if (!opt->no_pad) {
        if (opt->max_length > 0)
            pad_to = opt->max_length;
        else if (opt->max_length == 0) {
            pad_to = t->pad_fixed > 0 ? t->pad_fixed : n_tok;
            if (t->pad_multiple > 0 && pad_to % t->pad_multiple)
                pad_to += t->pad_multiple - pad_to % t->pad_multiple;
        }
    }
    int total = n_tok > pad_to ? n_tok : pad_to;
    enc->ids = malloc((size_t)(total ? total : 1) * sizeof *enc->ids);
    if (!enc->ids) {
        free(content.v);
        return sn_errf(err, errcap, "out of memory");
    }
    int32_t pad_id = opt->pad_id >= 0 ? opt->pad_id : t->info.pad_id;
    int k = 0, n_pad = total - n_tok;
    if (t->pad_left)
        for (; k < n_pad; k++) enc->ids[k] = pad_id;
    if (!opt->no_special)
        for (int i = 0; i < t->n_prefix; i++) enc->ids[k++] = t->prefix_ids[i];
    if (nc) memcpy(enc->ids + k, content.v + off, (size_t)nc * sizeof *enc->ids);
    k += nc;
    if (!opt->no_special)
        for (int i = 0; i < t->n_suffix; i++) enc->ids[k++] = t->suffix_ids[i];
    if (!t->pad_left)
        for (; k < total; k++) enc->ids[k] = pad_id;
    free(content.v);
    enc->n = total;
    enc->n_tokens = n_tok;
    enc->n_truncated = dropped;
    if (opt->want_pieces) {
        enc->pieces = malloc((size_t)(total ? total : 1) * sizeof *enc->pieces);
        if (!enc->pieces) {
            sn_tok_encoding_free(enc);
            return sn_errf(err, errcap, "out of memory");
        }
        for (int i = 0; i < total; i++) enc->pieces[i] = sn_tokenizer_piece(t, enc->ids[i]);
    }
    return 0;
}

void sn_tok_encoding_free(sn_tok_encoding *enc) {
    free(enc->ids);
    free((void *)enc->pieces);
    memset(enc, 0, sizeof *enc);
}

/* --- decoding --------------------------------------------------------------------------------- */

static char *valid_utf8(const char *s, size_t n) {
    tk_str out = {0};
    size_t i = 0;
    while (i < n) {
        size_t bad;
        int len = tk_utf8_len((unsigned char)s[i]);
        if ((size_t)len <= n - i && !tk_utf8_check(s + i, (size_t)len, &bad)) {
            tk_str_put(&out, s + i, (size_t)len);
            i += (size_t)len;
        } else {
            tk_str_puts(&out, "\xEF\xBF\xBD");
            i++;
        }
    }
    return tk_str_take(&out);
}

char *sn_tokenizer_decode(const sn_tokenizer *t, const int32_t *ids, int n, int skip_special) {
    tk_str raw = {0};
    int byte_level = 0;
    for (int k = 0; k < t->n_pres; k++) byte_level |= t->pres[k].kind == TK_P_BYTE_LEVEL;
    size_t eow = t->eow_suffix ? strlen(t->eow_suffix) : 0;
    for (int i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->piece[id]) continue;
        if (skip_special && t->is_special[id]) continue;
        const char *p = t->piece[id];
        size_t pl = t->piece_len[id];
        int is_added = 0;
        for (int k = 0; k < t->n_added && !is_added; k++) is_added = t->added[k].id == id;
        if (t->kind == TK_BPE) {
            int word_end = eow && pl >= eow && !memcmp(p + pl - eow, t->eow_suffix, eow);
            if (word_end) pl -= eow;
            if (byte_level && !is_added) {
                size_t j = 0;
                while (j < pl) {
                    int len;
                    uint32_t c = tk_utf8_next(p + j, &len);
                    int b = tk_byte_level_inverse(c);
                    if (b >= 0)
                        tk_str_putc(&raw, (char)b);
                    else
                        tk_str_put(&raw, p + j, (size_t)len);
                    j += (size_t)len;
                }
            } else {
                tk_str_put(&raw, p, pl);
            }
            if (word_end) tk_str_putc(&raw, ' ');
        } else {
            unsigned hex;
            char tail;
            if (t->byte_fallback && pl == 6 && sscanf(p, "<0x%2X%c", &hex, &tail) == 2 &&
                tail == '>') {
                tk_str_putc(&raw, (char)hex);
            } else if (id == t->unk_id && t->format == TK_FMT_SPM) {
                tk_str_puts(&raw, " \xE2\x81\x87 ");
            } else {
                for (size_t j = 0; j < pl; j++) {
                    if (j + 3 <= pl && !memcmp(p + j, "\xE2\x96\x81", 3)) {
                        tk_str_putc(&raw, ' ');
                        j += 2;
                    } else {
                        tk_str_putc(&raw, p[j]);
                    }
                }
            }
        }
    }
    if (raw.bad) {
        tk_str_free(&raw);
        return NULL;
    }
    const char *s = raw.p ? raw.p : "";
    size_t len = raw.n;
    if (t->kind == TK_UNIGRAM && len && s[0] == ' ') s++, len--;
    while (t->kind == TK_BPE && len && s[len - 1] == ' ') len--;
    char *out = valid_utf8(s, len);
    tk_str_free(&raw);
    return out;
}

/* --- loading ------------------------------------------------------------------------------- */

const char *sn_tokenizer_piece(const sn_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids ? t->piece[id] : NULL;
}

int32_t sn_tokenizer_piece_id(const sn_tokenizer *t, const char *piece) {
    for (int k = 0; k < t->n_added; k++)
        if (!strcmp(t->added[k].content, piece)) return t->added[k].id;
    int32_t id;
    return tk_map_get(&t->vocab, piece, strlen(piece), &id) ? id : -1;
}

const sn_tokenizer_info *sn_tokenizer_get_info(const sn_tokenizer *t) { return &t->info; }

void sn_tokenizer_free(sn_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_ids; i++) free(t->piece[i]);
    free(t->piece);
    free(t->piece_len);
    free(t->is_special);
    tk_map_free(&t->vocab);
    tk_pairmap_free(&t->merges);
    free(t->unk_token);
    free(t->cont_prefix);
    free(t->eow_suffix);
    free(t->score);
    free(t->sp_type);
    tk_map_free(&t->sp_trie);
    tk_map_free(&t->sp_user);
    tk_charsmap_free(&t->sp_cm);
    for (int i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].norm_content);
    }
    free(t->added);
    for (int i = 0; i < t->n_norms; i++) {
        free(t->norms[i].pattern);
        free(t->norms[i].content);
        tk_charsmap_free(&t->norms[i].cm);
    }
    free(t->norms);
    free(t->pres);
    free(t->prefix_ids);
    free(t->suffix_ids);
    free(t->path);
    free(t);
}

static char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int file_exists(const char *p) {
    struct stat st;
    return p && !stat(p, &st) && S_ISREG(st.st_mode);
}

/* The sibling of `path` for the other half of a vocab.json/merges.txt pair: "x_vocab.json" ->
 * "x_merges.txt" when that exists, else plain "merges.txt" in the same folder. */
static char *sibling(const char *path, const char *from, const char *to) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *hit = strstr(base, from);
    if (hit) {
        size_t pre = (size_t)(hit - path), fl = strlen(from), tl = strlen(to);
        char *p = malloc(strlen(path) - fl + tl + 1);
        if (p) {
            memcpy(p, path, pre);
            memcpy(p + pre, to, tl);
            strcpy(p + pre + tl, hit + fl);
            if (file_exists(p)) return p;
            free(p);
        }
    }
    char *d = dir_of(path);
    char *p = d ? path_join(d, to) : NULL;
    free(d);
    return p;
}

/* The pad token named in tokenizer_config.json or special_tokens_map.json beside the file. */
static int32_t config_pad_id(const sn_tokenizer *t) {
    static const char *const names[] = {"tokenizer_config.json", "special_tokens_map.json"};
    char *d = dir_of(t->path);
    int32_t id = -1;
    for (int k = 0; k < 2 && d && id < 0; k++) {
        char *p = path_join(d, names[k]), err[64];
        size_t n;
        char *text = file_exists(p) ? sn_read_file(p, &n, err, sizeof err) : NULL;
        cJSON *root = text ? cJSON_ParseWithLength(text, n) : NULL;
        const cJSON *pad = cJSON_GetObjectItemCaseSensitive(root, "pad_token");
        if (cJSON_IsObject(pad)) pad = cJSON_GetObjectItemCaseSensitive(pad, "content");
        if (cJSON_IsString(pad)) id = sn_tokenizer_piece_id(t, pad->valuestring);
        cJSON_Delete(root);
        free(text);
        free(p);
    }
    free(d);
    return id;
}

static int is_clip_like(const sn_tokenizer *t) {
    if (t->kind != TK_BPE || !t->eow_suffix || strcmp(t->eow_suffix, "</w>")) return 0;
    for (int k = 0; k < t->n_pres; k++)
        if (t->pres[k].kind == TK_P_CLIP_SPLIT) return 1;
    return 0;
}

/* CLIP's pipeline for a vocab.json + merges.txt pair, as transformers' CLIPConverter builds it. */
static int setup_clip_files(sn_tokenizer *t, char *err, size_t errcap) {
    static const char *const specials[] = {"<|startoftext|>", "<|endoftext|>"};
    int32_t ids[2];
    for (int k = 0; k < 2; k++)
        if (!tk_map_get(&t->vocab, specials[k], strlen(specials[k]), &ids[k]))
            return sn_errf(err, errcap, "%s: the vocabulary has no %s token (is it CLIP's?)", t->path,
                        specials[k]);
    t->kind = TK_BPE;
    t->unk_token = strdup("<|endoftext|>");
    t->eow_suffix = strdup("</w>");
    t->cont_prefix = strdup("");
    t->added = calloc(2, sizeof *t->added);
    t->norms = calloc(3, sizeof *t->norms);
    t->pres = calloc(2, sizeof *t->pres);
    t->prefix_ids = malloc(sizeof *t->prefix_ids);
    t->suffix_ids = malloc(sizeof *t->suffix_ids);
    if (!t->unk_token || !t->eow_suffix || !t->cont_prefix || !t->added || !t->norms || !t->pres ||
        !t->prefix_ids || !t->suffix_ids)
        return sn_errf(err, errcap, "out of memory");
    t->unk_id = ids[1];
    for (int k = 0; k < 2; k++) {
        tk_added *a = &t->added[t->n_added++];
        a->content = strdup(specials[k]);
        a->norm_content = strdup(specials[k]);
        if (!a->content || !a->norm_content) return sn_errf(err, errcap, "out of memory");
        a->len = a->norm_len = strlen(specials[k]);
        a->id = ids[k];
        a->normalized = a->special = 1;
        t->is_special[ids[k]] = 1;
    }
    t->norms[0].kind = TK_N_NFC;
    t->norms[1].kind = TK_N_REPLACE_SPACES;
    t->norms[1].content = strdup(" ");
    t->norms[2].kind = TK_N_LOWER;
    t->n_norms = 3;
    if (!t->norms[1].content) return sn_errf(err, errcap, "out of memory");
    t->pres[0] = (tk_pre){.kind = TK_P_CLIP_SPLIT, .with_specials = 1};
    t->pres[1] = (tk_pre){.kind = TK_P_BYTE_LEVEL, .add_prefix_space = 0, .use_regex = 1};
    t->n_pres = 2;
    t->prefix_ids[0] = ids[0];
    t->suffix_ids[0] = ids[1];
    t->n_prefix = t->n_suffix = 1;
    for (int b = 0; b < 256; b++) t->byte_piece[b] = -1;
    t->pad_id = -1;
    return 0;
}

/* Fills the defaults and the info block once the parts are loaded. */
static void finish(sn_tokenizer *t) {
    sn_tokenizer_info *in = &t->info;
    snprintf(in->kind, sizeof in->kind, "%s", t->kind == TK_BPE ? "bpe" : "unigram");
    snprintf(in->format, sizeof in->format, "%s",
             t->format == TK_FMT_JSON  ? "tokenizer.json"
             : t->format == TK_FMT_SPM ? "sentencepiece"
                                       : "vocab.json+merges.txt");
    in->n_vocab = t->n_ids;
    in->bos_id = t->n_prefix ? t->prefix_ids[0] : -1;
    in->eos_id = t->n_suffix ? t->suffix_ids[t->n_suffix - 1] : -1;
    in->unk_id = t->unk_id;
    int clip = is_clip_like(t);
    if (clip && !t->trunc_max && !t->pad_fixed && t->pad_id < 0) { /* CLIP: 77, padded */
        t->trunc_max = 77;
        t->pad_fixed = 77;
    }
    if (t->format != TK_FMT_SPM && t->pad_id < 0) {
        int32_t id = config_pad_id(t);
        if (id < 0 && t->kind == TK_BPE) id = in->eos_id >= 0 ? in->eos_id : 0;
        if (id < 0) id = sn_tokenizer_piece_id(t, "<pad>");
        t->pad_id = id >= 0 ? id : 0;
    }
    in->pad_id = t->pad_id;
    in->max_length = t->trunc_max;
    in->pad_length = t->pad_fixed;
    if (t->format != TK_FMT_SPM) {
        int bl = 0;
        for (int k = 0; k < t->n_pres; k++) bl |= t->pres[k].kind == TK_P_BYTE_LEVEL;
        if (t->kind == TK_BPE)
            snprintf(in->description, sizeof in->description, "%sBPE%s, %d ids, %zu merges",
                     bl ? "byte-level " : "", clip ? " (CLIP)" : "", t->n_ids, t->merges.count);
        else
            snprintf(in->description, sizeof in->description, "unigram, %d ids%s", t->n_ids,
                     t->byte_fallback ? ", byte fallback" : "");
    }
}

sn_tokenizer *sn_tokenizer_load(const char *path, char *err, size_t errcap) {
    struct stat st;
    if (stat(path, &st)) {
        sn_errf(err, errcap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *file = NULL;
    if (S_ISDIR(st.st_mode)) {
        static const char *const names[] = {"tokenizer.json", "spiece.model", "tokenizer.model",
                                            "vocab.json", "merges.txt"};
        for (int k = 0; k < 5 && !file; k++) {
            char *p = path_join(path, names[k]);
            if (file_exists(p))
                file = p;
            else
                free(p);
        }
        if (!file) {
            sn_errf(err, errcap,
                 "%s: a folder without tokenizer.json, spiece.model, tokenizer.model "
                 "or vocab.json + merges.txt",
                 path);
            return NULL;
        }
    } else {
        file = strdup(path);
    }
    sn_tokenizer *t = calloc(1, sizeof *t);
    if (!t || !file) {
        free(file);
        free(t);
        sn_errf(err, errcap, "out of memory");
        return NULL;
    }
    t->path = file;
    t->unk_id = -1;
    t->pad_id = -1;
    for (int b = 0; b < 256; b++) t->byte_piece[b] = -1;
    size_t n;
    char *text = sn_read_file(file, &n, err, errcap);
    if (!text) {
        sn_tokenizer_free(t);
        return NULL;
    }
    size_t i = 0;
    if (n >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) i = 3;
    while (i < n && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) i++;
    int rc;
    if (!n) {
        rc = sn_errf(err, errcap, "%s: empty file", file);
    } else if (text[i] == '{') {
        cJSON *root = cJSON_ParseWithLength(text, n);
        if (!root) {
            const char *at = cJSON_GetErrorPtr();
            long off = at && at >= text && at <= text + n ? (long)(at - text) : -1;
            rc = sn_errf(err, errcap, "%s: not valid JSON (the error is near byte %ld)", file, off);
        } else if (cJSON_GetObjectItemCaseSensitive(root, "model")) {
            t->format = TK_FMT_JSON;
            rc = tk_load_json(t, root, err, errcap);
        } else {
            int numbers = root->child != NULL;
            for (cJSON *e = root->child; e && numbers; e = e->next) numbers = cJSON_IsNumber(e);
            if (!numbers) {
                rc = sn_errf(err, errcap,
                          "%s: a JSON file that is neither a tokenizer.json (it has no "
                          "\"model\") nor a BPE vocab.json (token -> id)",
                          file);
            } else {
                char *merges = sibling(file, "vocab.json", "merges.txt");
                t->format = TK_FMT_BPE_FILES;
                rc = !merges ? sn_errf(err, errcap, "out of memory")
                     : !file_exists(merges)
                         ? sn_errf(err, errcap,
                                "%s: a vocab.json needs its merges.txt beside it (%s "
                                "is missing)",
                                file, merges)
                         : tk_load_bpe_files(t, file, merges, err, errcap);
                if (!rc) rc = setup_clip_files(t, err, errcap);
                free(merges);
            }
        }
        cJSON_Delete(root);
    } else if (!strncmp(text + i, "#version", 8) ||
               (strlen(file) > 4 && !strcmp(file + strlen(file) - 4, ".txt"))) {
        char *vocab = sibling(file, "merges.txt", "vocab.json");
        t->format = TK_FMT_BPE_FILES;
        rc = !vocab ? sn_errf(err, errcap, "out of memory")
             : !file_exists(vocab)
                 ? sn_errf(err, errcap,
                        "%s: a merges.txt needs its vocab.json beside it (%s is missing)", file,
                        vocab)
                 : tk_load_bpe_files(t, vocab, file, err, errcap);
        if (!rc) rc = setup_clip_files(t, err, errcap);
        free(vocab);
    } else {
        t->format = TK_FMT_SPM;
        t->kind = TK_UNIGRAM;
        rc = tk_load_spm(t, (const unsigned char *)text, n, err, errcap);
    }
    free(text);
    if (rc) {
        sn_tokenizer_free(t);
        return NULL;
    }
    finish(t);
    return t;
}
