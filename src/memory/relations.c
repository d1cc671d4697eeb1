/* relations.c -- parse relations.tsv (layout in relations.h). */
#include "config.h"

#include "memory/relations.h"

#include <string.h>

#include "util/i18n.h"
#include "util/utf8.h"

static enum status relations_bad(enum status st, const char *name, size_t line, const char *why)
{
    /* TRANSLATORS: %s:%zu is a file name and line number, the last %s the reason */
    return status_detail_set(st, _("%s:%zu: %s"), name ? name : "relations", line, why);
}

static bool relations_id_ok(const char *s, size_t len)
{
    if (len == 0)
        return true;
    if (len < 2 || s[0] != 'P')
        return false;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

/* Parse one line s[0..len) (without its newline) into row. */
static enum status relations_line(const char *s, size_t len, const char *name,
                                  struct relations_row *row)
{
    const char *tab1 = memchr(s, '\t', len);
    if (!tab1)
        return relations_bad(STATUS_PARSE, name, row->line, _("expected 3 tab-separated fields"));
    const char *rest = tab1 + 1;
    size_t rest_len = len - (size_t)(rest - s);
    const char *tab2 = memchr(rest, '\t', rest_len);
    if (!tab2)
        return relations_bad(STATUS_PARSE, name, row->line, _("expected 3 tab-separated fields"));
    const char *flag = tab2 + 1;
    size_t flag_len = len - (size_t)(flag - s);
    size_t id_len = (size_t)(tab1 - s);
    size_t name_len = (size_t)(tab2 - rest);

    if (id_len > RELATIONS_ID_MAX || !relations_id_ok(s, id_len))
        return relations_bad(STATUS_PARSE, name, row->line,
                             _("the first field must be a Wikidata property id such as P19"));
    if (name_len == 0 || name_len > RELATIONS_NAME_MAX)
        return relations_bad(STATUS_PARSE, name, row->line,
                             _("the relation name is empty or too long"));
    if (!utf8_valid(rest, name_len))
        return relations_bad(STATUS_ENCODING, name, row->line, _("the relation name is not UTF-8"));
    for (size_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)rest[i];
        if (c < 0x20 || c == 0x7f)
            return relations_bad(STATUS_PARSE, name, row->line,
                                 _("the relation name contains a control character"));
    }
    if (flag_len != 1 || (flag[0] != '0' && flag[0] != '1'))
        return relations_bad(STATUS_PARSE, name, row->line,
                             _("the single_valued field must be 0 or 1"));

    memcpy(row->wikidata_id, s, id_len);
    row->wikidata_id[id_len] = '\0';
    memcpy(row->name, rest, name_len);
    row->name[name_len] = '\0';
    row->single_valued = flag[0] == '1';
    return STATUS_OK;
}

enum status relations_parse(const char *buf, size_t len, const char *name, relations_cb cb,
                            void *ctx)
{
    struct relations_row row;
    size_t pos = 0;
    row.line = 0;
    while (pos < len) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - s) : len - pos;
        pos += line_len + (nl ? 1 : 0);
        row.line++;
        if (line_len > 0 && s[line_len - 1] == '\r')
            line_len--;
        if (line_len == 0 || s[0] == '#')
            continue;
        enum status st = relations_line(s, line_len, name, &row);
        if (st != STATUS_OK)
            return st;
        if (cb(ctx, &row) != 0)
            return STATUS_CANCELLED;
    }
    return STATUS_OK;
}
