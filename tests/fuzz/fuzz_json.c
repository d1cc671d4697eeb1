/* fuzz_json.c -- libFuzzer harness for src/util/json.c: parsing arbitrary bytes never
 * crashes; an accepted document, written back out, parses to the same structure; and
 * json_escape() of any bytes is a JSON string that parses.
 * Sources: src/util/json.c src/util/utf8.c src/util/status.c
 * (tests/fuzz/run.sh links all library objects). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Serialize v compactly into f. */
static void dump(FILE *f, const struct json_value *v)
{
    size_t n;
    const char *s;
    double x;
    bool b;
    switch (json_kind(v)) {
    case JSON_NULL:
        fputs("null", f);
        break;
    case JSON_BOOL:
        if (!json_bool(v, &b))
            abort();
        fputs(b ? "true" : "false", f);
        break;
    case JSON_NUMBER:
        if (!json_num(v, &x))
            abort();
        fprintf(f, "%.17g", x);
        break;
    case JSON_STRING:
        s = json_str(v, &n);
        if (!s || s[n] != '\0')
            abort();
        json_write_str(f, s, n);
        break;
    case JSON_ARRAY:
        fputc('[', f);
        for (size_t i = 0; i < json_len(v); i++) {
            if (i)
                fputc(',', f);
            dump(f, json_at(v, i));
        }
        fputc(']', f);
        break;
    case JSON_OBJECT:
        fputc('{', f);
        for (size_t i = 0; i < json_len(v); i++) {
            if (i)
                fputc(',', f);
            s = json_key_at(v, i, &n);
            json_write_str(f, s, n);
            fputc(':', f);
            dump(f, json_at(v, i));
        }
        fputc('}', f);
        break;
    }
}

/* Structural equality (numbers compared as doubles, strings as bytes). */
static bool same(const struct json_value *a, const struct json_value *b)
{
    if (json_kind(a) != json_kind(b) || json_len(a) != json_len(b))
        return false;
    size_t na, nb;
    const char *sa, *sb;
    double xa, xb;
    bool ba, bb;
    switch (json_kind(a)) {
    case JSON_NULL:
        return true;
    case JSON_BOOL:
        return json_bool(a, &ba) && json_bool(b, &bb) && ba == bb;
    case JSON_NUMBER:
        return json_num(a, &xa) && json_num(b, &xb) && xa == xb;
    case JSON_STRING:
        sa = json_str(a, &na);
        sb = json_str(b, &nb);
        return na == nb && memcmp(sa, sb, na) == 0;
    case JSON_ARRAY:
    case JSON_OBJECT:
        for (size_t i = 0; i < json_len(a); i++) {
            if (json_kind(a) == JSON_OBJECT) {
                sa = json_key_at(a, i, &na);
                sb = json_key_at(b, i, &nb);
                if (na != nb || memcmp(sa, sb, na) != 0)
                    return false;
            }
            if (!same(json_at(a, i), json_at(b, i)))
                return false;
        }
        return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct json_doc *d = NULL;
    if (json_parse(text, size, &d) == STATUS_OK) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
            abort();
        dump(f, json_doc_root(d));
        fclose(f);
        struct json_doc *d2 = NULL;
        if (json_parse(buf, len, &d2) != STATUS_OK)
            abort();
        if (!same(json_doc_root(d), json_doc_root(d2)))
            abort();
        json_doc_free(d2);
        free(buf);
        json_doc_free(d);
    } else if (d != NULL) {
        abort(); /* *out untouched on failure */
    }

    char *e = json_escape(text, size);
    if (e) {
        struct json_doc *d3 = NULL;
        if (json_parse(e, strlen(e), &d3) != STATUS_OK)
            abort();
        if (json_kind(json_doc_root(d3)) != JSON_STRING)
            abort();
        json_doc_free(d3);
        free(e);
    }
    return 0;
}
