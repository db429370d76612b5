#include "s3_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

/* A tiny SAX layer: the handler sees each element's end with its depth, its
 * name, its text and its parent's name. Elements nest shallowly in S3's
 * answers, so a fixed stack is enough; deeper ones are ignored. */
enum { MAX_DEPTH = 8, MAX_TEXT = 64 * 1024 };

struct sax;
typedef void (*end_fn)(struct sax *s, const char *name, const char *text, size_t len);

struct sax {
    char names[MAX_DEPTH][48];
    int depth;
    char *text;
    size_t tlen, tcap;
    bool oom;
    char root[48];
    end_fn on_end;
    void *ud;
};

static const char *local_name(const char *n)
{
    const char *c = strrchr(n, ':');     /* expat without namespaces keeps prefixes */
    return c ? c + 1 : n;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    (void)atts;
    struct sax *s = ud;
    if (s->depth == 0)
        snprintf(s->root, sizeof s->root, "%s", local_name(name));
    if (s->depth < MAX_DEPTH)
        snprintf(s->names[s->depth], sizeof s->names[0], "%s", local_name(name));
    s->depth++;
    s->tlen = 0;
}

static void XMLCALL on_text(void *ud, const XML_Char *t, int len)
{
    struct sax *s = ud;
    if (len <= 0 || s->tlen + (size_t)len > MAX_TEXT)
        return;
    if (s->tlen + (size_t)len + 1 > s->tcap) {
        size_t cap = (s->tlen + (size_t)len + 1) * 2;
        char *p = realloc(s->text, cap);
        if (!p) {
            s->oom = true;
            return;
        }
        s->text = p;
        s->tcap = cap;
    }
    memcpy(s->text + s->tlen, t, (size_t)len);
    s->tlen += (size_t)len;
    s->text[s->tlen] = '\0';
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct sax *s = ud;
    s->depth--;
    if (s->depth < MAX_DEPTH && s->on_end)
        s->on_end(s, local_name(name), s->text ? s->text : "", s->text ? s->tlen : 0);
    s->tlen = 0;
    if (s->text)
        s->text[0] = '\0';
}

/* The parent of the element now ending (valid inside on_end). */
static const char *parent(const struct sax *s)
{
    return s->depth >= 1 && s->depth - 1 < MAX_DEPTH ? s->names[s->depth - 1] : "";
}

static int sax_parse(struct sax *s, const char *body, size_t len)
{
    XML_Parser p = XML_ParserCreate(NULL);
    if (!p)
        return -1;
    XML_SetUserData(p, s);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    int rc = 0;
    /* S3 bodies are small; parse in int-sized slices to be safe */
    while (len > 0 && rc == 0) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        if (XML_Parse(p, body, n, 0) != XML_STATUS_OK)
            rc = -1;
        body += n;
        len -= (size_t)n;
    }
    if (rc == 0 && XML_Parse(p, "", 0, 1) != XML_STATUS_OK)
        rc = -1;
    XML_ParserFree(p);
    free(s->text);
    s->text = NULL;
    if (s->oom || !s->root[0])
        rc = -1;
    return rc;
}

static void copy(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    for (char *p = dst; *p; p++)            /* one line in messages */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

/* --- <Error> ----------------------------------------------------------------- */

static void error_end(struct sax *s, const char *name, const char *text, size_t len)
{
    struct bq_s3_xml_error *e = s->ud;
    if (s->depth != 1 || strcmp(s->root, "Error") != 0)
        return;
    if (!strcmp(name, "Code"))
        copy(e->code, sizeof e->code, text, len);
    else if (!strcmp(name, "Message"))
        copy(e->message, sizeof e->message, text, len);
    else if (!strcmp(name, "RequestId"))
        copy(e->request_id, sizeof e->request_id, text, len);
}

int bq_s3_xml_parse_error(const char *body, size_t len, struct bq_s3_xml_error *out)
{
    memset(out, 0, sizeof *out);
    struct sax s = { .on_end = error_end, .ud = out };
    if (sax_parse(&s, body, len) < 0)
        return -1;
    return strcmp(s.root, "Error") == 0;
}

/* --- ListObjectsV2 ------------------------------------------------------------ */

struct list_ctx {
    struct bq_s3_list_page *page;
    struct bq_s3_object cur;
    bool url_encoded;
    bool bad;
};

char *bq_s3_url_decode(const char *s, size_t len, size_t *outlen)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (i + 2 >= len) {
                free(out);
                return NULL;
            }
            char hex[3] = { s[i + 1], s[i + 2], 0 };
            char *end;
            long v = strtol(hex, &end, 16);
            if (end != hex + 2) {
                free(out);
                return NULL;
            }
            out[o++] = (char)v;
            i += 2;
        } else if (s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
}

static void list_end(struct sax *s, const char *name, const char *text, size_t len)
{
    struct list_ctx *c = s->ud;
    if (strcmp(s->root, "ListBucketResult") != 0)
        return;
    if (s->depth == 2 && !strcmp(parent(s), "Contents")) {
        if (!strcmp(name, "Key")) {
            free(c->cur.key);
            c->cur.key = strndup(text, len);
        } else if (!strcmp(name, "Size")) {
            c->cur.size = strtoull(text, NULL, 10);
        } else if (!strcmp(name, "ETag")) {
            free(c->cur.etag);
            c->cur.etag = strndup(text, len);
        } else if (!strcmp(name, "LastModified")) {
            free(c->cur.last_modified);
            c->cur.last_modified = strndup(text, len);
        }
    } else if (s->depth == 1) {
        struct bq_s3_list_page *p = c->page;
        if (!strcmp(name, "Contents")) {
            if (!c->cur.key) {
                c->bad = true;
                return;
            }
            if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 64;
                struct bq_s3_object *o = realloc(p->objects, cap * sizeof *o);
                if (!o) {
                    c->bad = true;
                    return;
                }
                p->objects = o;
                p->cap = cap;
            }
            p->objects[p->n++] = c->cur;
            memset(&c->cur, 0, sizeof c->cur);
        } else if (!strcmp(name, "IsTruncated")) {
            p->truncated = len == 4 && !memcmp(text, "true", 4);
        } else if (!strcmp(name, "NextContinuationToken")) {
            free(p->next_token);
            p->next_token = strndup(text, len);
        } else if (!strcmp(name, "EncodingType")) {
            c->url_encoded = len == 3 && !memcmp(text, "url", 3);
        }
    }
}

void bq_s3_list_page_free(struct bq_s3_list_page *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->objects[i].key);
        free(p->objects[i].etag);
        free(p->objects[i].last_modified);
    }
    free(p->objects);
    free(p->next_token);
    memset(p, 0, sizeof *p);
}

int bq_s3_xml_parse_list(const char *body, size_t len, struct bq_s3_list_page *out)
{
    memset(out, 0, sizeof *out);
    struct list_ctx c = { .page = out };
    struct sax s = { .on_end = list_end, .ud = &c };
    int rc = sax_parse(&s, body, len);
    free(c.cur.key);
    free(c.cur.etag);
    free(c.cur.last_modified);
    if (rc == 0 && (c.bad || strcmp(s.root, "ListBucketResult") != 0))
        rc = -1;
    if (rc == 0 && c.url_encoded) {
        for (size_t i = 0; i < out->n; i++) {
            char *d = bq_s3_url_decode(out->objects[i].key, strlen(out->objects[i].key), NULL);
            if (!d) {
                rc = -1;
                break;
            }
            free(out->objects[i].key);
            out->objects[i].key = d;
        }
    }
    if (rc == 0 && out->truncated && !out->next_token)
        rc = -1;                     /* truncated without a way on: refuse to end early */
    if (rc < 0)
        bq_s3_list_page_free(out);
    return rc;
}

/* --- multipart ------------------------------------------------------------------ */

struct one_ctx {
    const char *root, *field;
    char *value;
};

static void one_end(struct sax *s, const char *name, const char *text, size_t len)
{
    struct one_ctx *c = s->ud;
    if (s->depth == 1 && !strcmp(s->root, c->root) && !strcmp(name, c->field)) {
        free(c->value);
        c->value = strndup(text, len);
    }
}

int bq_s3_xml_parse_initiate(const char *body, size_t len, char **upload_id)
{
    struct one_ctx c = { "InitiateMultipartUploadResult", "UploadId", NULL };
    struct sax s = { .on_end = one_end, .ud = &c };
    *upload_id = NULL;
    if (sax_parse(&s, body, len) < 0 || !c.value || !c.value[0]) {
        free(c.value);
        return -1;
    }
    *upload_id = c.value;
    return 0;
}

int bq_s3_xml_parse_complete(const char *body, size_t len, char **etag, struct bq_s3_xml_error *err)
{
    *etag = NULL;
    int e = bq_s3_xml_parse_error(body, len, err);
    if (e != 0)
        return e;
    struct one_ctx c = { "CompleteMultipartUploadResult", "ETag", NULL };
    struct sax s = { .on_end = one_end, .ud = &c };
    if (sax_parse(&s, body, len) < 0 || !c.value) {
        free(c.value);
        return -1;
    }
    *etag = c.value;
    return 0;
}
