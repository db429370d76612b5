/* outfile: INTO OUTFILE's TEXT rows and RFC 4180 CSV rows. See outfile.h;
 * the variable names follow MariaDB's select_export (sql/sql_class.cc) so the
 * two can be read side by side. */
#include "outfile.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ESCAPE_CHARS "ntrb0ZN"          /* what LOAD DATA unescapes */
#define NUMERIC_CHARS ".0123456789e+-"  /* what a number's text may hold */
#define MAX_BLOB_WIDTH 16777216u

struct bq_outfile {
    enum bq_outfile_format format;
    char *field_term, *enclosed, *line_start, *line_term;
    size_t field_term_len, enclosed_len, line_start_len, line_term_len;
    bool opt_enclosed;
    int field_term_char, field_sep_char, escape_char, line_sep_char;
    bool is_ambiguous_field_sep, is_unsafe_field_sep, is_ambiguous_field_term;
    /* need[e][c]: byte c needs escaping in a field that is (e=1) or is not
     * (e=0) enclosed (NEED_ESCAPING, the field-term exception folded in). */
    bool need[2][256];
    unsigned ncols;
    struct bq_outfile_column *cols;
};

static char *dup_bytes(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p) {
        if (len)
            memcpy(p, s, len);
        p[len] = 0;
    }
    return p;
}

/* strchr() as the server calls it with an int that may be INT_MAX (none) or 0. */
static bool in_set(const char *set, int c)
{
    return strchr(set, (char)c) != NULL;
}

static void fail(char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
}

struct bq_outfile *bq_outfile_new(const struct bq_outfile_opts *o, char *err, size_t errlen)
{
    bool csv = o->format == BQ_OUTFILE_CSV;
    if (csv && (o->fields_enclosed_by.s || o->fields_escaped_by.s || o->lines_starting_by.s || o->optionally)) {
        fail(err, errlen, "format csv takes only fields_terminated_by and lines_terminated_by");
        return NULL;
    }
    struct bq_outfile_str ft = o->fields_terminated_by.s ? o->fields_terminated_by
                                                         : (struct bq_outfile_str){ csv ? "," : "\t", 1 };
    struct bq_outfile_str enc = o->fields_enclosed_by.s ? o->fields_enclosed_by : (struct bq_outfile_str){ "", 0 };
    struct bq_outfile_str esc = o->fields_escaped_by.s ? o->fields_escaped_by : (struct bq_outfile_str){ "\\", 1 };
    struct bq_outfile_str ls = o->lines_starting_by.s ? o->lines_starting_by : (struct bq_outfile_str){ "", 0 };
    struct bq_outfile_str lt = o->lines_terminated_by.s ? o->lines_terminated_by : (struct bq_outfile_str){ "\n", 1 };
    if (enc.len > 1 || esc.len > 1) {
        fail(err, errlen, "fields_enclosed_by and fields_escaped_by must be empty or one character");
        return NULL;
    }
    if (csv && ft.len == 0) {
        fail(err, errlen, "format csv needs a non-empty fields_terminated_by");
        return NULL;
    }
    if (!csv && ft.len == 0 && enc.len == 0) {
        /* The server then pads every field to its display width. */
        fail(err, errlen, "fixed-width rows (empty fields_terminated_by and fields_enclosed_by) are not supported");
        return NULL;
    }
    struct bq_outfile *f = calloc(1, sizeof *f);
    if (!f) {
        fail(err, errlen, "out of memory");
        return NULL;
    }
    f->format = o->format;
    if (lt.len == 0)
        lt = ft;    /* as the server: "Use this if it exists" */
    f->field_term = dup_bytes(ft.s, ft.len);
    f->enclosed = dup_bytes(enc.s, enc.len);
    f->line_start = dup_bytes(ls.s, ls.len);
    f->line_term = dup_bytes(lt.s, lt.len);
    if (!f->field_term || !f->enclosed || !f->line_start || !f->line_term) {
        bq_outfile_free(f);
        fail(err, errlen, "out of memory");
        return NULL;
    }
    f->field_term_len = ft.len;
    f->enclosed_len = enc.len;
    f->line_start_len = ls.len;
    f->line_term_len = lt.len;

    f->field_term_char = ft.len ? (unsigned char)ft.s[0] : INT_MAX;
    f->field_sep_char = enc.len ? (unsigned char)enc.s[0] : f->field_term_char;
    f->escape_char = esc.len ? (unsigned char)esc.s[0] : -1;
    f->is_ambiguous_field_sep = in_set(ESCAPE_CHARS, f->field_sep_char);
    f->is_unsafe_field_sep = in_set(NUMERIC_CHARS, f->field_sep_char);
    f->line_sep_char = lt.len ? (unsigned char)lt.s[0] : INT_MAX;
    f->opt_enclosed = o->optionally;
    if (!ft.len)
        f->opt_enclosed = false;
    if (!enc.len)
        f->opt_enclosed = true;     /* the server's "a little quicker loop" */
    return f;
}

void bq_outfile_free(struct bq_outfile *f)
{
    if (!f)
        return;
    free(f->field_term);
    free(f->enclosed);
    free(f->line_start);
    free(f->line_term);
    free(f->cols);
    free(f);
}

int bq_outfile_set_columns(struct bq_outfile *f, const struct bq_outfile_column *cols, unsigned n)
{
    struct bq_outfile_column *c = calloc(n ? n : 1, sizeof *c);
    if (!c)
        return -1;
    if (n)
        memcpy(c, cols, n * sizeof *c);
    free(f->cols);
    f->cols = c;
    f->ncols = n;
    /* As the server's prepare(): the scan for string/non-string columns
     * stops at the first blob. */
    bool string_results = false, non_string_results = false;
    for (unsigned i = 0; i < n; i++) {
        if (cols[i].is_blob)
            break;
        if (cols[i].is_string)
            string_results = true;
        else
            non_string_results = true;
    }
    f->is_ambiguous_field_term =
        (f->is_ambiguous_field_sep && f->enclosed_len == 0 && (string_results || f->is_unsafe_field_sep)) ||
        (f->opt_enclosed && non_string_results && f->field_term_len && in_set(NUMERIC_CHARS, f->field_term_char));
    for (int e = 0; e < 2; e++) {
        for (int ch = 0; ch < 256; ch++) {
            bool need = ch == f->escape_char || (e ? ch == f->field_sep_char : ch == f->field_term_char) ||
                        ch == f->line_sep_char || ch == 0;
            /* Don't escape field_term_char by doubling: doubling is only
             * valid for ENCLOSED BY characters. */
            if (need && !(e || !f->is_ambiguous_field_term || ch != f->field_term_char))
                need = false;
            f->need[e][ch] = need;
        }
    }
    return 0;
}

/* Copies n bytes, w <= n <= 2w, as two overlapping moves of w (a constant
 * where it is called, so each move is one load and one store). */
static inline void copy_ends(char *d, const char *s, size_t n, size_t w)
{
    char head[8], tail[8];
    memcpy(head, s, w);
    memcpy(tail, s + n - w, w);
    memcpy(d, head, w);
    memcpy(d + n - w, tail, w);
}

/* Appends n bytes (room reserved). Most fields are a few bytes long: those
 * are copied inline, in at most two overlapping moves, not by a call. */
static inline void put(struct bq_buf *b, const char *s, size_t n)
{
    if (!n)
        return;
    char *d = b->data + b->len;
    if (n > 16) {
        memcpy(d, s, n);
    } else if (n >= 8) {
        copy_ends(d, s, n, 8);
    } else if (n >= 4) {
        copy_ends(d, s, n, 4);
    } else {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
    b->len += n;
}

static int text_field(const struct bq_outfile *f, const struct bq_db_value *v, bool is_string, struct bq_buf *out)
{
    if (v->type == BQ_DB_NULL) {
        if (bq_buf_reserve(out, 4) < 0)
            return -1;
        if (f->escape_char != -1) {
            out->data[out->len++] = (char)f->escape_char;
            out->data[out->len++] = 'N';
        } else {
            put(out, "NULL", 4);
        }
        return 0;
    }
    bool enclosed = f->enclosed_len && (!f->opt_enclosed || is_string);
    /* at worst every byte doubles, plus two enclosing chars */
    if (v->len > (SIZE_MAX - 8) / 2 || bq_buf_reserve(out, 2 * v->len + 2) < 0)
        return -1;
    if (enclosed)
        out->data[out->len++] = f->enclosed[0];
    const unsigned char *p = (const unsigned char *)v->s, *end = p + v->len;
    if ((is_string || f->is_unsafe_field_sep) && f->escape_char != -1) {
        const bool *need = f->need[enclosed];
        const unsigned char *start = p;
        for (; p != end; p++) {
            if (!need[*p])
                continue;
            put(out, (const char *)start, (size_t)(p - start));
            out->data[out->len++] =
                (char)(*p == f->field_sep_char && f->is_ambiguous_field_sep ? f->field_sep_char : f->escape_char);
            out->data[out->len++] = *p ? (char)*p : '0';
            start = p + 1;
        }
        put(out, (const char *)start, (size_t)(p - start));
    } else {
        put(out, v->s, v->len);
    }
    if (enclosed)
        out->data[out->len++] = f->enclosed[0];
    return 0;
}

static int csv_field(const struct bq_outfile *f, const struct bq_db_value *v, struct bq_buf *out)
{
    if (v->type == BQ_DB_NULL)
        return 0;
    const char *s = v->s;
    size_t len = v->len;
    bool quote = len == 0;
    size_t quotes = 0;
    char sep = f->field_term[0];
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '"')
            quotes++;
        if (c == '"' || c == '\r' || c == '\n' || c == sep)
            quote = true;
    }
    if (len > SIZE_MAX / 2 - 8 || bq_buf_reserve(out, len + quotes + 2) < 0)
        return -1;
    if (!quote) {
        put(out, s, len);
        return 0;
    }
    out->data[out->len++] = '"';
    if (!quotes) {
        put(out, s, len);
    } else {
        const char *start = s;
        for (size_t i = 0; i < len; i++) {
            if (s[i] == '"') {
                put(out, start, (size_t)(s + i + 1 - start));  /* through the quote */
                out->data[out->len++] = '"';
                start = s + i + 1;
            }
        }
        put(out, start, (size_t)(s + len - start));
    }
    out->data[out->len++] = '"';
    return 0;
}

static int line(const struct bq_outfile *f, const struct bq_db_value *row, unsigned n, bool all_strings,
                struct bq_buf *out)
{
    if (bq_buf_reserve(out, f->line_start_len) < 0)
        return -1;
    put(out, f->line_start, f->line_start_len);
    for (unsigned i = 0; i < n; i++) {
        int rc = f->format == BQ_OUTFILE_CSV ? csv_field(f, &row[i], out)
                                             : text_field(f, &row[i], all_strings || f->cols[i].is_string, out);
        if (rc < 0)
            return -1;
        if (i + 1 < n) {
            if (bq_buf_reserve(out, f->field_term_len) < 0)
                return -1;
            put(out, f->field_term, f->field_term_len);
        }
    }
    if (bq_buf_reserve(out, f->line_term_len) < 0)
        return -1;
    put(out, f->line_term, f->line_term_len);
    return 0;
}

int bq_outfile_row(const struct bq_outfile *f, const struct bq_db_value *row, struct bq_buf *out)
{
    return line(f, row, f->ncols, false, out);
}

int bq_outfile_header(const struct bq_outfile *f, const char *const *names, const size_t *lens,
                      struct bq_buf *out)
{
    struct bq_db_value *v = calloc(f->ncols ? f->ncols : 1, sizeof *v);
    if (!v)
        return -1;
    for (unsigned i = 0; i < f->ncols; i++)
        v[i] = (struct bq_db_value){ .type = BQ_DB_STRING, .s = names[i], .len = lens[i] };
    int rc = line(f, v, f->ncols, true, out);
    free(v);
    return rc;
}
