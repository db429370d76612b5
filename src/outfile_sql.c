/* outfile_sql: Aurora's trailing INTO OUTFILE S3 clause (see outfile_sql.h). */
#include "outfile_sql.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum tok_type { T_END = 0, T_WORD, T_STR, T_BQ, T_PUNCT, T_ERR };

struct lex {
    const char *s;
    size_t len, pos;
};

struct tok {
    enum tok_type type;
    size_t start, end;          /* the token's bytes, quotes included */
};

static bool is_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
           c >= 0x80;
}

/* The next token, skipping whitespace and comments. T_ERR: an unterminated
 * string, identifier or comment. */
static struct tok next(struct lex *l)
{
    const char *s = l->s;
    for (;;) {
        while (l->pos < l->len && (unsigned char)s[l->pos] <= ' ')
            l->pos++;
        if (l->pos >= l->len)
            return (struct tok){ T_END, l->len, l->len };
        char c = s[l->pos];
        if (c == '#' || (c == '-' && l->pos + 1 < l->len && s[l->pos + 1] == '-' &&
                         (l->pos + 2 >= l->len || (unsigned char)s[l->pos + 2] <= ' '))) {
            while (l->pos < l->len && s[l->pos] != '\n')
                l->pos++;
            continue;
        }
        if (c == '/' && l->pos + 1 < l->len && s[l->pos + 1] == '*') {
            size_t p = l->pos + 2;
            while (p + 1 < l->len && !(s[p] == '*' && s[p + 1] == '/'))
                p++;
            if (p + 1 >= l->len)
                return (struct tok){ T_ERR, l->pos, l->len };
            l->pos = p + 2;
            continue;
        }
        break;
    }
    size_t start = l->pos;
    char c = s[start];
    if (c == '\'' || c == '"' || c == '`') {
        size_t p = start + 1;
        for (;;) {
            if (p >= l->len)
                return (struct tok){ T_ERR, start, l->len };
            if (s[p] == '\\' && c != '`') {
                p += 2;
                continue;
            }
            if (s[p] == c) {
                if (p + 1 < l->len && s[p + 1] == c) {   /* doubled quote */
                    p += 2;
                    continue;
                }
                break;
            }
            p++;
        }
        l->pos = p + 1;
        return (struct tok){ c == '`' ? T_BQ : T_STR, start, l->pos };
    }
    if (is_word_char((unsigned char)c)) {
        while (l->pos < l->len && is_word_char((unsigned char)s[l->pos]))
            l->pos++;
        return (struct tok){ T_WORD, start, l->pos };
    }
    l->pos++;
    return (struct tok){ T_PUNCT, start, l->pos };
}

static bool is_kw(const struct lex *l, struct tok t, const char *kw)
{
    size_t n = strlen(kw);
    return t.type == T_WORD && t.end - t.start == n && !strncasecmp(l->s + t.start, kw, n);
}

static struct tok peek(const struct lex *l)
{
    struct lex c = *l;
    return next(&c);
}

/* --- the clause ------------------------------------------------------------------------ */

struct parser {
    struct lex lex;
    char *err;
    size_t errlen;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *p, const char *fmt, ...)
{
    int n = snprintf(p->err, p->errlen, "INTO OUTFILE S3: ");
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < p->errlen)
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* What a token looks like in a message. */
static const char *tok_text(const struct parser *p, struct tok t, char *buf, size_t buflen)
{
    if (t.type == T_END)
        return "the end of the statement";
    size_t n = t.end - t.start;
    if (n > 40)
        n = 40;
    snprintf(buf, buflen, "'%.*s%s'", (int)n, p->lex.s + t.start, t.end - t.start > 40 ? "..." : "");
    return buf;
}

/* Appends the unescaped body of string token t to *out (MySQL's rules). */
static int unescape_append(const char *s, struct tok t, struct bq_osql_str *out)
{
    size_t n = t.end - t.start;
    char *b = realloc(out->s, out->len + n + 1);
    if (!b)
        return -1;
    out->s = b;
    char q = s[t.start];
    size_t o = out->len;
    for (size_t i = t.start + 1; i < t.end - 1; i++) {
        char c = s[i];
        if (c == q) {           /* doubled quote */
            b[o++] = q;
            i++;
            continue;
        }
        if (c != '\\' || i + 1 >= t.end - 1) {
            b[o++] = c;
            continue;
        }
        c = s[++i];
        switch (c) {
        case '0': b[o++] = '\0'; break;
        case 'b': b[o++] = '\b'; break;
        case 'n': b[o++] = '\n'; break;
        case 'r': b[o++] = '\r'; break;
        case 't': b[o++] = '\t'; break;
        case 'Z': b[o++] = '\032'; break;
        case '%':
        case '_':
            b[o++] = '\\';
            b[o++] = c;
            break;
        default: b[o++] = c; break;
        }
    }
    b[o] = '\0';
    out->len = o;
    return 0;
}

/* A string literal (adjacent literals concatenated) into *out. */
static int string_arg(struct parser *p, const char *what, struct bq_osql_str *out)
{
    struct tok t = next(&p->lex);
    char buf[64];
    if (t.type != T_STR)
        return fail(p, "%s needs a quoted string, got %s", what, tok_text(p, t, buf, sizeof buf));
    free(out->s);
    out->s = NULL;
    out->len = 0;
    for (;;) {
        if (unescape_append(p->lex.s, t, out) < 0)
            return fail(p, "out of memory");
        if (peek(&p->lex).type != T_STR)
            return 0;
        t = next(&p->lex);
    }
}

static int expect_kw(struct parser *p, const char *kw, const char *after)
{
    struct tok t = next(&p->lex);
    char buf[64];
    if (!is_kw(&p->lex, t, kw))
        return fail(p, "expected %s after %s, got %s", kw, after, tok_text(p, t, buf, sizeof buf));
    return 0;
}

/* BY 'string' for a sub-clause, once. */
static int by_string(struct parser *p, const char *what, struct bq_osql_str *out)
{
    if (out->s)
        return fail(p, "%s given twice", what);
    if (expect_kw(p, "BY", what) < 0)
        return -1;
    return string_arg(p, what, out);
}

static int on_off(struct parser *p, const char *what, int *out)
{
    if (*out >= 0)
        return fail(p, "%s given twice", what);
    struct tok t = next(&p->lex);
    char buf[64];
    if (is_kw(&p->lex, t, "ON"))
        *out = 1;
    else if (is_kw(&p->lex, t, "OFF"))
        *out = 0;
    else
        return fail(p, "%s takes ON or OFF, got %s", what, tok_text(p, t, buf, sizeof buf));
    return 0;
}

static int parse_uri(struct parser *p, struct bq_osql *o)
{
    struct bq_osql_str u = { 0 };
    if (string_arg(p, "INTO OUTFILE S3", &u) < 0)
        return -1;
    const char *rest = NULL;
    if (u.len >= 5 && !strncasecmp(u.s, "s3://", 5)) {
        rest = u.s + 5;
    } else if (u.len >= 3 && !strncasecmp(u.s, "s3-", 3)) {
        const char *e = strstr(u.s + 3, "://");
        size_t rn = e ? (size_t)(e - (u.s + 3)) : 0;
        bool good = rn > 0 && rn < 64;
        for (size_t i = 0; good && i < rn; i++) {
            char c = u.s[3 + i];
            good = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        }
        if (good) {
            o->region = strndup(u.s + 3, rn);
            if (!o->region) {
                free(u.s);
                return fail(p, "out of memory");
            }
            rest = e + 3;
        }
    }
    if (!rest || memchr(u.s, '\0', u.len)) {
        free(u.s);
        return fail(p, "the URI must be 's3://bucket/prefix' or 's3-REGION://bucket/prefix'");
    }
    size_t n = strlen(rest);
    o->uri = malloc(n + 6);
    if (o->uri)
        snprintf(o->uri, n + 6, "s3://%s", rest);
    free(u.s);
    if (!o->uri)
        return fail(p, "out of memory");
    return 0;
}

static int parse_clause(struct parser *p, struct bq_osql *o)
{
    char buf[64];
    if (parse_uri(p, o) < 0)
        return -1;
    bool seen_charset = false, seen_fields = false, seen_lines = false;
    for (;;) {
        struct tok t = next(&p->lex);
        if (t.type == T_END)
            return 0;
        if (t.type == T_PUNCT && p->lex.s[t.start] == ';') {
            t = next(&p->lex);
            if (t.type == T_END)
                return 0;
            return fail(p, "nothing may follow the clause, got %s", tok_text(p, t, buf, sizeof buf));
        }
        if (t.type == T_ERR)
            return fail(p, "unterminated string, identifier or comment");
        if (is_kw(&p->lex, t, "CHARACTER") || is_kw(&p->lex, t, "CHARSET")) {
            if (is_kw(&p->lex, t, "CHARACTER") && expect_kw(p, "SET", "CHARACTER") < 0)
                return -1;
            if (seen_charset)
                return fail(p, "CHARACTER SET given twice");
            seen_charset = true;
            struct tok n = next(&p->lex);
            if (n.type == T_WORD) {
                o->charset = strndup(p->lex.s + n.start, n.end - n.start);
            } else if (n.type == T_STR) {
                struct bq_osql_str s = { 0 };
                if (unescape_append(p->lex.s, n, &s) < 0)
                    return fail(p, "out of memory");
                o->charset = s.s;
            } else {
                return fail(p, "CHARACTER SET needs a name, got %s", tok_text(p, n, buf, sizeof buf));
            }
            if (!o->charset)
                return fail(p, "out of memory");
        } else if (is_kw(&p->lex, t, "FORMAT")) {
            if (o->format_given)
                return fail(p, "FORMAT given twice");
            o->format_given = true;
            struct tok f = next(&p->lex);
            if (is_kw(&p->lex, f, "CSV"))
                o->csv = true;
            else if (!is_kw(&p->lex, f, "TEXT"))
                return fail(p, "FORMAT takes TEXT or CSV, got %s", tok_text(p, f, buf, sizeof buf));
            if (is_kw(&p->lex, peek(&p->lex), "HEADER")) {
                next(&p->lex);
                o->header = true;
            }
        } else if (is_kw(&p->lex, t, "FIELDS") || is_kw(&p->lex, t, "COLUMNS")) {
            if (seen_fields)
                return fail(p, "FIELDS given twice");
            seen_fields = true;
            int subs = 0;
            for (;; subs++) {
                struct tok s = peek(&p->lex);
                if (is_kw(&p->lex, s, "TERMINATED")) {
                    next(&p->lex);
                    if (by_string(p, "FIELDS TERMINATED BY", &o->fields_terminated_by) < 0)
                        return -1;
                } else if (is_kw(&p->lex, s, "OPTIONALLY") || is_kw(&p->lex, s, "ENCLOSED")) {
                    next(&p->lex);
                    if (is_kw(&p->lex, s, "OPTIONALLY")) {
                        if (expect_kw(p, "ENCLOSED", "OPTIONALLY") < 0)
                            return -1;
                        if (!o->fields_enclosed_by.s)
                            o->optionally = true;
                    }
                    if (by_string(p, "FIELDS ENCLOSED BY", &o->fields_enclosed_by) < 0)
                        return -1;
                } else if (is_kw(&p->lex, s, "ESCAPED")) {
                    next(&p->lex);
                    if (by_string(p, "FIELDS ESCAPED BY", &o->fields_escaped_by) < 0)
                        return -1;
                } else {
                    break;
                }
            }
            if (!subs)
                return fail(p, "FIELDS needs TERMINATED BY, ENCLOSED BY or ESCAPED BY");
        } else if (is_kw(&p->lex, t, "LINES")) {
            if (seen_lines)
                return fail(p, "LINES given twice");
            seen_lines = true;
            int subs = 0;
            for (;; subs++) {
                struct tok s = peek(&p->lex);
                if (is_kw(&p->lex, s, "STARTING")) {
                    next(&p->lex);
                    if (by_string(p, "LINES STARTING BY", &o->lines_starting_by) < 0)
                        return -1;
                } else if (is_kw(&p->lex, s, "TERMINATED")) {
                    next(&p->lex);
                    if (by_string(p, "LINES TERMINATED BY", &o->lines_terminated_by) < 0)
                        return -1;
                } else {
                    break;
                }
            }
            if (!subs)
                return fail(p, "LINES needs STARTING BY or TERMINATED BY");
        } else if (is_kw(&p->lex, t, "MANIFEST")) {
            if (on_off(p, "MANIFEST", &o->manifest) < 0)
                return -1;
        } else if (is_kw(&p->lex, t, "OVERWRITE")) {
            if (on_off(p, "OVERWRITE", &o->overwrite) < 0)
                return -1;
        } else if (is_kw(&p->lex, t, "ENCRYPTION")) {
            if (o->encryption != BQ_OSQL_ENC_DEFAULT)
                return fail(p, "ENCRYPTION given twice");
            struct tok e = next(&p->lex);
            if (is_kw(&p->lex, e, "ON") || is_kw(&p->lex, e, "SSE_S3")) {
                o->encryption = BQ_OSQL_ENC_SSE_S3;
            } else if (is_kw(&p->lex, e, "OFF")) {
                o->encryption = BQ_OSQL_ENC_OFF;
            } else if (is_kw(&p->lex, e, "SSE_KMS")) {
                o->encryption = BQ_OSQL_ENC_SSE_KMS;
                if (peek(&p->lex).type == T_STR) {
                    struct bq_osql_str k = { 0 };
                    if (string_arg(p, "SSE_KMS", &k) < 0)
                        return -1;
                    o->kms_key_id = k.s;
                    if (!k.len || memchr(k.s, '\0', k.len))
                        return fail(p, "SSE_KMS key id must be a non-empty string");
                }
            } else {
                return fail(p, "ENCRYPTION takes ON, OFF, SSE_S3 or SSE_KMS ['key'], got %s",
                            tok_text(p, e, buf, sizeof buf));
            }
        } else {
            return fail(p, "unexpected %s (the clause must end the statement; options: CHARACTER SET, FORMAT, "
                           "FIELDS, LINES, MANIFEST, OVERWRITE, ENCRYPTION)", tok_text(p, t, buf, sizeof buf));
        }
    }
}

void bq_osql_free(struct bq_osql *o)
{
    free(o->uri);
    free(o->region);
    free(o->charset);
    free(o->fields_terminated_by.s);
    free(o->fields_enclosed_by.s);
    free(o->fields_escaped_by.s);
    free(o->lines_starting_by.s);
    free(o->lines_terminated_by.s);
    free(o->kms_key_id);
    memset(o, 0, sizeof *o);
    o->manifest = o->overwrite = -1;
}

int bq_osql_parse(const char *sql, size_t len, struct bq_osql *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->manifest = o->overwrite = -1;
    if (errlen)
        err[0] = '\0';
    struct lex l = { sql, len, 0 };
    struct tok first = next(&l);
    if (!is_kw(&l, first, "SELECT") && !is_kw(&l, first, "WITH") &&
        !(first.type == T_PUNCT && sql[first.start] == '('))
        return 0;
    int depth = first.type == T_PUNCT ? 1 : 0;
    struct tok prev2 = { T_END, 0, 0 }, prev1 = { T_END, 0, 0 };
    for (;;) {
        struct tok t = next(&l);
        if (t.type == T_END || t.type == T_ERR)
            return 0;   /* the server will say what is wrong, if anything */
        if (t.type == T_PUNCT && sql[t.start] == '(')
            depth++;
        else if (t.type == T_PUNCT && sql[t.start] == ')')
            depth--;
        if (depth == 0 && is_kw(&l, t, "S3") && is_kw(&l, prev1, "OUTFILE") && is_kw(&l, prev2, "INTO")) {
            struct parser p = { l, err, errlen };
            if (parse_clause(&p, o) < 0) {
                bq_osql_free(o);
                return -1;
            }
            size_t end = prev2.start;
            while (end > 0 && (unsigned char)sql[end - 1] <= ' ')
                end--;
            o->sql_len = end;
            return 1;
        }
        prev2 = prev1;
        prev1 = t;
    }
}
