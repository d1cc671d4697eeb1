/* i18n.h -- gettext shorthands: _() translates now, N_() marks a string for later. */
#ifndef MEMLLM_I18N_H
#define MEMLLM_I18N_H

#if ENABLE_NLS
#include <libintl.h>
#define _(s) gettext(s)
#define P_(sing, plur, n) ngettext((sing), (plur), (n))
#else
#define _(s) ((const char *)(s))
#define P_(sing, plur, n) ((n) == 1 ? (const char *)(sing) : (const char *)(plur))
#endif
#define N_(s) (s)

#endif /* MEMLLM_I18N_H */
