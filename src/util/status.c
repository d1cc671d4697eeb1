/* status.c -- messages for enum status and the per-thread detail line. */
#include "config.h"
#include "util/status.h"

#include <stdio.h>
#include <string.h>

#include "util/i18n.h"
#include "util/utf8.h"

static const char *const status_messages[] = {
#define STATUS_MSG_(name, msg) msg,
    STATUS_LIST(STATUS_MSG_)
#undef STATUS_MSG_
};

static const char *const status_names[] = {
#define STATUS_NAME_(name, msg) "STATUS_" #name,
    STATUS_LIST(STATUS_NAME_)
#undef STATUS_NAME_
};

_Static_assert(sizeof status_messages / sizeof status_messages[0] == STATUS_COUNT_,
               "one message per status");

static _Thread_local char status_detail_buf[512];

const char *status_str(enum status s)
{
    if ((unsigned)s >= STATUS_COUNT_)
        return _("unknown status");
    return _(status_messages[s]);
}

const char *status_name(enum status s)
{
    if ((unsigned)s >= STATUS_COUNT_)
        return "STATUS_UNKNOWN";
    return status_names[s];
}

enum status status_detail_vset(enum status s, const char *fmt, va_list ap)
{
    /* Format into a copy first: an argument may be status_detail() itself (a caller
     * adding context), and vsnprintf's source must not overlap its destination. */
    char buf[sizeof status_detail_buf];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n < 0) {
        buf[0] = '\0';
    } else if ((size_t)n >= sizeof buf) {
        /* vsnprintf cut at a byte; do not leave half a character behind */
        size_t keep = utf8_prefix_complete(buf, sizeof buf - 1);
        buf[keep] = '\0';
    }
    memcpy(status_detail_buf, buf, strlen(buf) + 1);
    return s;
}

enum status status_detail_set(enum status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    status_detail_vset(s, fmt, ap);
    va_end(ap);
    return s;
}

const char *status_detail(void)
{
    return status_detail_buf;
}

void status_detail_clear(void)
{
    status_detail_buf[0] = '\0';
}
