/* libFuzzer target: the TEXT/CSV row writer (src/outfile.c). Options, column
 * kinds and a few rows of fields (NULLs included) come from the input. The
 * output must be what the options promise; where the options make the format
 * unambiguous, a small reference reader parses it back into the same fields:
 *   - CSV with rows ended by "\n" or "\r\n" and a separator free of '"', CR, LF;
 *   - TEXT with every column a string, one escape char, separators whose
 *     first chars differ from each other and from the escape (and enclosing)
 *     char, none of those chars in "ntrb0ZN" (where the server doubles instead
 *     of escaping, or the escape would read as a control char) and no NUL
 *     separator (which the server's strchr() also finds in that set). */
#include "fuzz_common.h"
#include "outfile.h"

#include <stdbool.h>

enum { MAX_COLS = 6, MAX_ROWS = 4, MAX_OPT = 4, MAX_FIELD = 24 };

#define ESCAPE_CHARS "ntrb0ZN"

struct field {
    bool null;
    const char *s;
    size_t len;
};

static bool in_escape_chars(unsigned char c)
{
    return c && strchr(ESCAPE_CHARS, c);
}

/* The server's test for an ambiguous separator is strchr(ESCAPE_CHARS, c),
 * which a NUL separator passes too (then NUL bytes go out unescaped). */
static bool ambiguous_sep(unsigned char c)
{
    return strchr(ESCAPE_CHARS, c) != NULL;
}

/* --- CSV ------------------------------------------------------------------ */

static bool starts(const char *p, const char *end, const char *s, size_t n)
{
    return (size_t)(end - p) >= n && !memcmp(p, s, n);
}

/* Parses one row of ncols fields; returns the position after the row, or NULL. */
static const char *csv_read_row(const char *p, const char *end, const char *ft, size_t ftlen, const char *lt,
                                size_t ltlen, unsigned ncols, struct field *out, char *scratch)
{
    for (unsigned i = 0; i < ncols; i++) {
        struct field *f = &out[i];
        if (p < end && *p == '"') {
            p++;
            f->null = false;
            f->s = scratch;
            size_t n = 0;
            for (;;) {
                if (p >= end)
                    return NULL;
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        scratch[n++] = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                scratch[n++] = *p++;
            }
            f->len = n;
            scratch += n;
        } else {
            const char *start = p;
            while (p < end && !starts(p, end, i + 1 < ncols ? ft : lt, i + 1 < ncols ? ftlen : ltlen))
                p++;
            f->s = start;
            f->len = (size_t)(p - start);
            f->null = f->len == 0;
        }
        if (i + 1 < ncols) {
            if (!starts(p, end, ft, ftlen))
                return NULL;
            p += ftlen;
        }
    }
    if (!starts(p, end, lt, ltlen))
        return NULL;
    return p + ltlen;
}

/* --- TEXT ----------------------------------------------------------------- */

struct text_syntax {
    const char *ft, *lt, *ls;
    size_t ftlen, ltlen, lslen;
    int esc, enc;           /* enc -1: not enclosed */
};

static const char *text_read_row(const char *p, const char *end, const struct text_syntax *x, unsigned ncols,
                                 struct field *out, char *scratch)
{
    if (!starts(p, end, x->ls, x->lslen))
        return NULL;
    p += x->lslen;
    for (unsigned i = 0; i < ncols; i++) {
        struct field *f = &out[i];
        const char *term = i + 1 < ncols ? x->ft : x->lt;
        size_t termlen = i + 1 < ncols ? x->ftlen : x->ltlen;
        if (starts(p, end, (char[]){ (char)x->esc, 'N' }, 2) &&
            starts(p + 2, end, term, termlen)) {
            f->null = true;
            p += 2;
        } else {
            f->null = false;
            f->s = scratch;
            size_t n = 0;
            bool enclosed = x->enc >= 0;
            if (enclosed) {
                if (p >= end || (unsigned char)*p != x->enc)
                    return NULL;
                p++;
            }
            for (;;) {
                if (p >= end)
                    return NULL;
                unsigned char c = (unsigned char)*p;
                if (c == x->esc) {
                    if (p + 1 >= end)
                        return NULL;
                    scratch[n++] = p[1] == '0' ? '\0' : p[1];
                    p += 2;
                    continue;
                }
                if (enclosed ? c == x->enc : (c == (unsigned char)x->ft[0] || c == (unsigned char)x->lt[0]))
                    break;
                scratch[n++] = (char)c;
                p++;
            }
            if (enclosed)
                p++;
            f->len = n;
            scratch += n;
        }
        if (!starts(p, end, term, termlen))
            return NULL;
        p += termlen;
    }
    return p;
}

/* --- the target ------------------------------------------------------------ */

static bool same_field(const struct field *a, const struct field *b)
{
    if (a->null || b->null)
        return a->null == b->null;
    return a->len == b->len && (!a->len || !memcmp(a->s, b->s, a->len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = { data, size };
    uint8_t flags = fuzz_byte(&in);
    struct bq_outfile_opts o;
    memset(&o, 0, sizeof o);
    o.format = flags & 1 ? BQ_OUTFILE_CSV : BQ_OUTFILE_TEXT;
    o.optionally = flags & 2;
    struct bq_outfile_str *opt[] = { &o.fields_terminated_by, &o.fields_enclosed_by, &o.fields_escaped_by,
                                     &o.lines_starting_by, &o.lines_terminated_by };
    for (int k = 0; k < 5; k++)
        if (flags & (4 << k))
            opt[k]->s = fuzz_bytes(&in, MAX_OPT, &opt[k]->len);

    uint8_t shape = fuzz_byte(&in);
    unsigned ncols = shape % (MAX_COLS + 1);
    unsigned nrows = (shape >> 4) % (MAX_ROWS + 1);
    struct bq_outfile_column cols[MAX_COLS];
    uint8_t kinds = fuzz_byte(&in);
    bool all_strings = true;
    for (unsigned i = 0; i < ncols; i++) {
        cols[i].is_string = (kinds >> i) & 1 ? false : true;
        cols[i].is_blob = i == 0 && (kinds & 0x80);
        all_strings = all_strings && cols[i].is_string;
    }
    struct field rows[MAX_ROWS][MAX_COLS];
    struct bq_db_value vals[MAX_ROWS][MAX_COLS];
    size_t payload = 0;
    for (unsigned r = 0; r < nrows; r++)
        for (unsigned i = 0; i < ncols; i++) {
            struct field *f = &rows[r][i];
            f->null = (fuzz_byte(&in) & 7) == 0;
            f->s = fuzz_bytes(&in, MAX_FIELD, &f->len);
            if (f->null)
                f->len = 0;
            payload += f->len;
            vals[r][i] = f->null ? (struct bq_db_value){ .type = BQ_DB_NULL }
                                 : (struct bq_db_value){ .type = BQ_DB_STRING, .s = f->s, .len = f->len };
        }

    char err[256];
    err[0] = '\0';
    struct bq_outfile *w = bq_outfile_new(&o, err, sizeof err);
    if (!w) {
        FUZZ_CHECK(err[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(bq_outfile_set_columns(w, cols, ncols) == 0);
    struct bq_buf out = { 0 };
    size_t row_end[MAX_ROWS];
    for (unsigned r = 0; r < nrows; r++) {
        FUZZ_CHECK(bq_outfile_row(w, vals[r], &out) == 0);
        row_end[r] = out.len;
    }
    struct bq_buf head = { 0 };
    if (ncols && nrows) {
        const char *names[MAX_COLS];
        size_t lens[MAX_COLS];
        for (unsigned i = 0; i < ncols; i++) {
            names[i] = rows[0][i].null ? "" : rows[0][i].s;
            lens[i] = rows[0][i].len;
        }
        FUZZ_CHECK(bq_outfile_header(w, names, lens, &head) == 0);
    }

    /* the effective options, as the header promises */
    bool csv = o.format == BQ_OUTFILE_CSV;
    const char *ft = o.fields_terminated_by.s ? o.fields_terminated_by.s : csv ? "," : "\t";
    size_t ftlen = o.fields_terminated_by.s ? o.fields_terminated_by.len : 1;
    const char *lt = o.lines_terminated_by.s ? o.lines_terminated_by.s : "\n";
    size_t ltlen = o.lines_terminated_by.s ? o.lines_terminated_by.len : 1;
    if (!ltlen) {
        lt = ft;
        ltlen = ftlen;
    }
    const char *ls = o.lines_starting_by.s ? o.lines_starting_by.s : "";
    size_t lslen = o.lines_starting_by.s ? o.lines_starting_by.len : 0;
    int esc = o.fields_escaped_by.s ? (o.fields_escaped_by.len ? (unsigned char)o.fields_escaped_by.s[0] : -1) : '\\';
    int enc = o.fields_enclosed_by.s && o.fields_enclosed_by.len ? (unsigned char)o.fields_enclosed_by.s[0] : -1;

    /* every row starts with LINES STARTING BY and ends with LINES TERMINATED BY;
     * at worst every byte doubles */
    const char *text = out.data ? out.data : "";     /* no row: no buffer */
    size_t prev = 0;
    for (unsigned r = 0; r < nrows; r++) {
        size_t n = row_end[r] - prev;
        FUZZ_CHECK(n >= lslen + ltlen);
        FUZZ_CHECK(!memcmp(text + prev, ls, lslen));
        FUZZ_CHECK(!memcmp(text + row_end[r] - ltlen, lt, ltlen));
        prev = row_end[r];
    }
    FUZZ_CHECK(out.len <= nrows * (lslen + ltlen + (ncols ? ncols - 1 : 0) * ftlen + ncols * 4) + 2 * payload);

    char *scratch = malloc(out.len + 1);    /* a field read back is never longer than its text */
    FUZZ_CHECK(scratch);
    struct field back[MAX_COLS];
    if (csv && ((ltlen == 1 && lt[0] == '\n') || (ltlen == 2 && !memcmp(lt, "\r\n", 2))) &&
        !memchr(ft, '"', ftlen) && !memchr(ft, '\r', ftlen) && !memchr(ft, '\n', ftlen) && ncols) {
        const char *p = text, *end = text + out.len;
        for (unsigned r = 0; r < nrows; r++) {
            p = csv_read_row(p, end, ft, ftlen, lt, ltlen, ncols, back, scratch);
            FUZZ_CHECK(p != NULL);
            for (unsigned i = 0; i < ncols; i++) {
                /* an empty string is "" and NULL is empty: both read back */
                FUZZ_CHECK(same_field(&back[i], &rows[r][i]));
            }
        }
        FUZZ_CHECK(p == end);
    }
    if (!csv && all_strings && ncols && esc >= 0 && !in_escape_chars((unsigned char)esc) && ftlen && ltlen &&
        !ambiguous_sep((unsigned char)ft[0]) && !in_escape_chars((unsigned char)lt[0]) && ft[0] != lt[0] &&
        esc != (unsigned char)ft[0] && esc != (unsigned char)lt[0] &&
        (enc < 0 || (!ambiguous_sep((unsigned char)enc) && enc != esc))) {
        struct text_syntax x = { ft, lt, ls, ftlen, ltlen, lslen, esc, enc };
        const char *p = text, *end = text + out.len;
        for (unsigned r = 0; r < nrows; r++) {
            p = text_read_row(p, end, &x, ncols, back, scratch);
            FUZZ_CHECK(p != NULL);
            for (unsigned i = 0; i < ncols; i++)
                FUZZ_CHECK(same_field(&back[i], &rows[r][i]));
        }
        FUZZ_CHECK(p == end);
    }
    free(scratch);
    free(out.data);
    free(head.data);
    bq_outfile_free(w);
    return 0;
}
