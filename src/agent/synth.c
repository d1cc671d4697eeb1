/* synth.c -- synthetic MemLLM training examples (see synth.h). */
#include "config.h"

#include "agent/synth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/call.h"
#include "util/i18n.h"
#include "util/json.h"

/* ---- random numbers (splitmix64) ------------------------------------------------------ */

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t rng_below(struct rng *r, size_t n)
{
    return n ? (size_t)(rng_next(r) % n) : 0;
}

static double rng_unit(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static bool rng_chance(struct rng *r, double p)
{
    return rng_unit(r) < p;
}

#define PICK(r, arr) ((arr)[rng_below((r), sizeof(arr) / sizeof((arr)[0]))])

/* ---- growing strings ------------------------------------------------------------------ */

struct sb {
    char *s;
    size_t n, cap;
    bool oom;
};

static void sb_add(struct sb *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, len);
    b->n += len;
    b->s[b->n] = '\0';
}

static void sb_addz(struct sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_clear(struct sb *b)
{
    b->n = 0;
    if (b->s)
        b->s[0] = '\0';
}

/* ---- invented names ------------------------------------------------------------------- */

enum et {
    ET_COUNTRY,
    ET_CITY,
    ET_PERSON,
    ET_WORK,
    ET_FILM,
    ET_SONG,
    ET_COMPANY,
    ET_UNIV,
    ET_TEAM,
    ET_DATE,
    ET_YEAR,
    ET_LANGUAGE,
    ET_CURRENCY,
    ET_CONTINENT,
};

static const char *const onsets[] = {"b", "br", "c", "d", "dr", "f", "g", "gr", "h", "j",
                                     "k", "kr", "l", "m", "n", "p", "qu", "r", "s", "st",
                                     "t", "th", "tr", "v", "w", "z", "sh", "ch", "y", "fl",
                                     "",  "",   "bl", "sk", "pr", "x"};
static const char *const vowels[] = {"a", "e", "i", "o", "u", "a", "e", "o", "ae", "ia", "ou",
                                     "y", "ei", "au"};
static const char *const codas[] = {"", "", "", "n", "r", "l", "s", "th", "x", "m", "nd",
                                    "rk", "v", "t", "sh"};

/* A capitalized invented word of 2..3 syllables plus an optional suffix. */
static void gen_word(struct rng *r, struct sb *b, size_t min_syl, size_t max_syl,
                     const char *suffix)
{
    size_t start = b->n;
    size_t n = min_syl + rng_below(r, max_syl - min_syl + 1);
    for (size_t i = 0; i < n; i++) {
        sb_addz(b, PICK(r, onsets));
        sb_addz(b, PICK(r, vowels));
        if (i + 1 == n ? rng_chance(r, 0.6) : rng_chance(r, 0.15))
            sb_addz(b, PICK(r, codas));
    }
    if (suffix)
        sb_addz(b, suffix);
    if (!b->oom && b->n > start && b->s[start] >= 'a' && b->s[start] <= 'z')
        b->s[start] = (char)(b->s[start] - 'a' + 'A');
}

static const char *const adjectives[] = {
    "Silent", "Golden", "Hidden", "Last", "Broken", "Distant", "Crimson", "Quiet", "Endless",
    "Frozen", "Burning", "Lost", "Secret", "Wandering", "Hollow", "Bright", "Forgotten",
    "Northern", "Salt", "Iron", "Paper", "Velvet", "Winter", "Summer", "Glass", "Seventh"};
static const char *const nouns[] = {
    "River", "Garden", "Mirror", "Harbor", "Kingdom", "Lantern", "Road", "Sky", "Forest",
    "Letters", "Orchard", "Tide", "Bridge", "Mountain", "Archive", "Island", "Voyage",
    "Shadows", "Songs", "Machine", "Promise", "Tower", "Horizon", "Storm", "Compass", "Door"};
static const char *const months[] = {"January", "February", "March",     "April",
                                     "May",     "June",     "July",      "August",
                                     "September", "October", "November", "December"};
static const char *const continents[] = {"Africa", "Asia", "Europe", "North America",
                                         "South America", "Oceania", "Antarctica"};

static void gen_name(struct rng *r, enum et t, struct sb *b)
{
    char num[32];
    switch (t) {
    case ET_COUNTRY: {
        static const char *const suf[] = {"ia", "land", "ora", "istan", "ovia", "enia", "ar",
                                          "ad", "ea", "", "", "una"};
        if (rng_chance(r, 0.1))
            sb_addz(b, PICK(r, ((const char *const[]){"Republic of ", "Kingdom of ",
                                                     "United States of "})));
        gen_word(r, b, 1, 2, PICK(r, suf));
        break;
    }
    case ET_CITY: {
        static const char *const suf[] = {"", "", "", "burg", "ton", "grad", "polis", "ville",
                                          "mouth", "haven", "field", "stad"};
        size_t k = rng_below(r, 10);
        if (k == 0)
            sb_addz(b, PICK(r, ((const char *const[]){"Port ", "San ", "New ", "Saint ",
                                                     "Upper ", "Fort "})));
        gen_word(r, b, 1, 2, PICK(r, suf));
        if (k == 1)
            sb_addz(b, PICK(r, ((const char *const[]){" Falls", " City", " Bay", " Hills"})));
        break;
    }
    case ET_PERSON: {
        static const char *const fsuf[] = {"", "", "a", "o", "en", "ine", "el", "is"};
        static const char *const lsuf[] = {"", "", "", "son", "ez", "ski", "ova", "er",
                                           "man", "ley", "ard", "i"};
        gen_word(r, b, 1, 2, PICK(r, fsuf));
        sb_addz(b, " ");
        if (rng_chance(r, 0.1)) { /* a middle initial: "J." */
            char ini[4] = {(char)('A' + rng_below(r, 26)), '.', ' ', '\0'};
            sb_addz(b, ini);
        }
        gen_word(r, b, 1, 2, PICK(r, lsuf));
        break;
    }
    case ET_WORK:
    case ET_FILM:
    case ET_SONG:
        switch (rng_below(r, 5)) {
        case 0:
            sb_addz(b, "The ");
            sb_addz(b, PICK(r, adjectives));
            sb_addz(b, " ");
            sb_addz(b, PICK(r, nouns));
            break;
        case 1:
            sb_addz(b, PICK(r, nouns));
            sb_addz(b, " of ");
            gen_word(r, b, 1, 2, NULL);
            break;
        case 2:
            sb_addz(b, PICK(r, adjectives));
            sb_addz(b, " ");
            sb_addz(b, PICK(r, nouns));
            break;
        case 3:
            gen_word(r, b, 2, 3, NULL);
            break;
        default:
            sb_addz(b, PICK(r, ((const char *const[]){"Dancing on ", "Return to ",
                                                     "Letters from ", "A Night in ",
                                                     "Beyond "})));
            gen_word(r, b, 1, 2, NULL);
            break;
        }
        break;
    case ET_COMPANY: {
        static const char *const suf[] = {" Industries", " Labs", " Systems", " Corporation",
                                          " Group", " Motors", " Records", " Foods", " Inc.",
                                          "", "", " Software", " Airlines", " Bank"};
        gen_word(r, b, 1, 2, NULL);
        if (rng_chance(r, 0.1)) {
            sb_addz(b, " & ");
            gen_word(r, b, 1, 2, NULL);
        }
        sb_addz(b, PICK(r, suf));
        break;
    }
    case ET_UNIV:
        switch (rng_below(r, 3)) {
        case 0:
            sb_addz(b, "University of ");
            gen_word(r, b, 1, 2, NULL);
            break;
        case 1:
            gen_word(r, b, 1, 2, NULL);
            sb_addz(b, " Institute of Technology");
            break;
        default:
            gen_word(r, b, 1, 2, NULL);
            sb_addz(b, PICK(r, ((const char *const[]){" College", " University",
                                                     " Academy"})));
            break;
        }
        break;
    case ET_TEAM:
        if (rng_chance(r, 0.3)) {
            sb_addz(b, "FC ");
            gen_word(r, b, 1, 2, NULL);
        } else {
            gen_word(r, b, 1, 2, NULL);
            sb_addz(b, PICK(r, ((const char *const[]){" Hawks", " Rovers", " United",
                                                     " Wolves", " Falcons", " Rangers",
                                                     " Tigers", " Athletic"})));
        }
        break;
    case ET_DATE: {
        unsigned d = 1 + (unsigned)rng_below(r, 28), y = 1700 + (unsigned)rng_below(r, 320);
        if (rng_chance(r, 0.5))
            snprintf(num, sizeof num, "%u %s %u", d, months[rng_below(r, 12)], y);
        else
            snprintf(num, sizeof num, "%s %u, %u", months[rng_below(r, 12)], d, y);
        sb_addz(b, num);
        break;
    }
    case ET_YEAR:
        snprintf(num, sizeof num, "%u", 1700 + (unsigned)rng_below(r, 324));
        sb_addz(b, num);
        break;
    case ET_LANGUAGE:
        gen_word(r, b, 1, 2, PICK(r, ((const char *const[]){"ish", "ese", "ian", "i", "ic"})));
        break;
    case ET_CURRENCY:
        if (rng_chance(r, 0.4)) {
            gen_word(r, b, 1, 2, "an");
            sb_addz(b, PICK(r, ((const char *const[]){" dollar", " mark", " crown",
                                                     " franc", " pound"})));
        } else {
            gen_word(r, b, 1, 2, NULL);
        }
        break;
    case ET_CONTINENT:
        sb_addz(b, PICK(r, continents));
        break;
    }
}

/* ---- relations and their phrasings ---------------------------------------------------- */

#define MAXP 10

struct rel {
    const char *name;
    enum et s, o;
    bool person;            /* subject is a person: "he"/"she", else "it" */
    bool real;              /* seed facts carry this relation */
    const char *st[MAXP];   /* statements */
    const char *q[MAXP];    /* questions wanting the object */
    const char *rq[MAXP];   /* questions wanting the subject */
    const char *gen;        /* held-out question wanting the object (eval only) */
};

static const struct rel rels[] = {
    {"capital", ET_COUNTRY, ET_CITY, false, true,
     {"{o} is the capital of {s}.", "The capital of {s} is {o}.", "{s}'s capital is {o}.",
      "{s} has its capital in {o}.", "{o} serves as the capital of {s}.",
      "The capital city of {s} is {o}.", "{s} is governed from its capital, {o}."},
     {"What is the capital of {s}?", "Which city is the capital of {s}?",
      "What is {s}'s capital?", "Name the capital city of {s}.",
      "What city is the capital of {s}?", "Where is the capital of {s}?"},
     {"{o} is the capital of which country?", "Which country has {o} as its capital?",
      "Of which country is {o} the capital?"},
     "If you travel to the seat of government of {s}, which city do you arrive in?"},
    {"country", ET_CITY, ET_COUNTRY, false, true,
     {"{s} is a city in {o}.", "{s} lies in {o}.", "{s} is located in {o}.",
      "The city of {s} is in {o}.", "{s} is one of the largest cities of {o}."},
     {"In which country is {s}?", "Which country is {s} in?", "Where is {s} located?",
      "What country is the city of {s} in?"},
     {"Name a city in {o}.", "Which city lies in {o}?"},
     "To reach {s}, which country would you have to visit?"},
    {"place of birth", ET_PERSON, ET_CITY, true, false,
     {"{s} was born in {o}.", "{o} is the birthplace of {s}.", "{s} is a native of {o}.",
      "{s} comes from {o}, where {s} was born."},
     {"Where was {s} born?", "What is the birthplace of {s}?", "In which city was {s} born?",
      "Which town is {s} from?"},
     {"Who was born in {o}?", "Which person was born in {o}?"},
     "What place did {s} come into the world in?"},
    {"date of birth", ET_PERSON, ET_DATE, true, false,
     {"{s} was born on {o}.", "{s}'s date of birth is {o}.", "{s} celebrates a birthday "
      "every year since being born on {o}."},
     {"When was {s} born?", "What is the date of birth of {s}?", "On what date was {s} born?",
      "What is {s}'s birthday?"},
     {NULL},
     "Can you tell me the day {s} was born?"},
    {"author", ET_WORK, ET_PERSON, false, false,
     {"{s} is a novel by {o}.", "{s} was written by {o}.", "{o} wrote {s}.",
      "{o} is the author of {s}.", "The book {s} was written by {o}."},
     {"Who wrote {s}?", "Who is the author of {s}?", "Who wrote the book {s}?",
      "Which writer wrote {s}?"},
     {"What did {o} write?", "Which book was written by {o}?"},
     "The novel {s} came from the pen of which writer?"},
    {"founded by", ET_COMPANY, ET_PERSON, false, false,
     {"{s} was founded by {o}.", "{o} founded {s}.", "{o} is the founder of {s}.",
      "{o} started the company {s}."},
     {"Who founded {s}?", "Who is the founder of {s}?", "Who started {s}?",
      "Which person founded {s}?"},
     {"Which company did {o} found?", "What did {o} found?"},
     "Whose idea was it to set up {s}?"},
    {"employer", ET_PERSON, ET_COMPANY, true, false,
     {"{s} works for {o}.", "{s} is employed by {o}.", "{s} works at {o}.",
      "{s} has a job at {o}."},
     {"Who does {s} work for?", "Where does {s} work?", "Who is the employer of {s}?",
      "Which company employs {s}?"},
     {"Who works for {o}?", "Who is employed by {o}?"},
     "At which firm does {s} earn a living?"},
    {"spouse", ET_PERSON, ET_PERSON, true, false,
     {"{s} is married to {o}.", "{s} married {o}.", "{s}'s spouse is {o}."},
     {"Who is {s} married to?", "Who is the spouse of {s}?", "Whom did {s} marry?"},
     {"Who married {o}?"},
     "Who is the partner that {s} wed?"},
    {"headquarters location", ET_COMPANY, ET_CITY, false, false,
     {"{s} is headquartered in {o}.", "{s} has its headquarters in {o}.",
      "The headquarters of {s} are in {o}.", "{s} is based in {o}."},
     {"Where is {s} headquartered?", "Where are the headquarters of {s}?",
      "In which city is {s} based?", "Where is {s} based?"},
     {"Which company is headquartered in {o}?", "What company is based in {o}?"},
     "From which city is {s} run?"},
    {"educated at", ET_PERSON, ET_UNIV, true, false,
     {"{s} studied at {o}.", "{s} graduated from {o}.", "{s} was educated at {o}.",
      "{s} attended {o}."},
     {"Where did {s} study?", "Which university did {s} attend?", "Where was {s} educated?",
      "Which school did {s} graduate from?"},
     {"Who studied at {o}?", "Who graduated from {o}?"},
     "What institution gave {s} a degree?"},
    {"director", ET_FILM, ET_PERSON, false, false,
     {"{s} is a film directed by {o}.", "{o} directed {s}.", "{s} was directed by {o}.",
      "{o} is the director of the film {s}."},
     {"Who directed {s}?", "Who is the director of {s}?", "Who directed the film {s}?"},
     {"Which film did {o} direct?", "What film was directed by {o}?"},
     "Behind the camera of {s}, who was in charge?"},
    {"member of sports team", ET_PERSON, ET_TEAM, true, false,
     {"{s} plays for {o}.", "{s} is a player for {o}.", "{s} signed with {o}.",
      "{s} is a member of {o}."},
     {"Which team does {s} play for?", "What team does {s} play for?",
      "For which club does {s} play?", "Which club is {s} a member of?"},
     {"Who plays for {o}?", "Which player is on {o}?"},
     "On whose roster is {s}?"},
    {"inception", ET_COMPANY, ET_YEAR, false, false,
     {"{s} was founded in {o}.", "{s} was established in {o}.", "{s} dates back to {o}."},
     {"When was {s} founded?", "In which year was {s} established?",
      "When was {s} established?"},
     {NULL},
     "How long ago, in what year, did {s} begin?"},
    {"official language", ET_COUNTRY, ET_LANGUAGE, false, true,
     {"The official language of {s} is {o}.", "{o} is the official language of {s}.",
      "People in {s} speak {o}.", "{s} has {o} as its official language."},
     {"What is the official language of {s}?", "What language is spoken in {s}?",
      "Which language do people speak in {s}?", "What do people speak in {s}?"},
     {"In which country is {o} spoken?", "Which country has {o} as its official language?"},
     "If you moved to {s}, which tongue would you need to learn?"},
    {"continent", ET_COUNTRY, ET_CONTINENT, false, true,
     {"{s} is a country in {o}.", "{s} lies on the continent of {o}.",
      "{s} is part of {o}."},
     {"On which continent is {s}?", "Which continent is {s} on?",
      "What continent is {s} in?"},
     {NULL},
     "Looking at a world map, on what landmass would you find {s}?"},
    {"currency", ET_COUNTRY, ET_CURRENCY, false, true,
     {"The currency of {s} is the {o}.", "{s} uses the {o} as its currency.",
      "In {s} people pay with the {o}.", "The {o} is the currency of {s}."},
     {"What is the currency of {s}?", "What currency does {s} use?",
      "Which currency is used in {s}?", "What money do people use in {s}?"},
     {"Which country uses the {o}?"},
     "When shopping in {s}, what do you pay with?"},
    {"performer", ET_SONG, ET_PERSON, false, false,
     {"{s} is a song by {o}.", "{o} sang {s}.", "{s} was performed by {o}.",
      "{o} recorded the song {s}."},
     {"Who sang {s}?", "Who performed {s}?", "Who sings the song {s}?"},
     {"Which song did {o} sing?", "What song was performed by {o}?"},
     "Whose voice can be heard on the track {s}?"},
};

#define N_RELS (sizeof rels / sizeof rels[0])

size_t synth_n_relations(void)
{
    return N_RELS;
}

const char *synth_relation_name(size_t i)
{
    return i < N_RELS ? rels[i].name : NULL;
}

static size_t count_p(const char *const *a)
{
    size_t n = 0;
    while (n < MAXP && a[n])
        n++;
    return n;
}

static const char *const fillers[] = {
    "{x} is a beautiful place to visit.", "Many people have heard of {x}.",
    "Little is known about the early years of {x}.", "{x} was in the news yesterday.",
    "Nobody expected the storm that night.", "The meeting lasted for three hours.",
    "It was a cold morning.", "{x} became famous very quickly.",
    "Some say that {x} is overrated.", "The story of {x} is told in many ways.",
    "Prices rose sharply that year.", "The results surprised everyone.",
    "{x} received a lot of attention.", "There was a long queue outside.",
    "Everyone agreed that {x} was remarkable.", "Nothing else happened that day.",
    "Critics were divided about {x}.", "The rain did not stop until evening.",
    "{x} is often mentioned in old books.", "Few visitors ever forget {x}."};

/* Append tmpl with {s}, {o}, {x} replaced; *at_s / *at_o (may be NULL) receive the byte
 * offset (in b) of the first insertion of each, SIZE_MAX when absent. */
static void render(struct sb *b, const char *tmpl, const char *s, const char *o,
                   size_t *at_s, size_t *at_o)
{
    if (at_s)
        *at_s = SIZE_MAX;
    if (at_o)
        *at_o = SIZE_MAX;
    for (const char *p = tmpl; *p;) {
        if (p[0] == '{' && (p[1] == 's' || p[1] == 'o' || p[1] == 'x') && p[2] == '}') {
            bool is_s = p[1] != 'o';
            size_t *at = is_s ? at_s : at_o;
            if (at && *at == SIZE_MAX)
                *at = b->n;
            sb_addz(b, is_s ? s : o);
            p += 3;
        } else {
            const char *q = p + 1;
            while (*q && *q != '{')
                q++;
            sb_add(b, p, (size_t)(q - p));
            p = q;
        }
    }
}

/* ---- facts ---------------------------------------------------------------------------- */

struct synth_facts {
    char *buf;
    struct synth_fact *f;
    size_t n;
};

enum status synth_facts_read(const char *path, struct synth_facts **out)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return status_detail_set(STATUS_IO, _("%s: %s"), path, strerror(errno));
    struct synth_facts *sf = calloc(1, sizeof *sf);
    struct sb b = {0};
    char chunk[65536];
    size_t got;
    enum status st = STATUS_OK;
    if (!sf) {
        fclose(fp);
        return STATUS_NOMEM;
    }
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0)
        sb_add(&b, chunk, got);
    if (ferror(fp)) {
        st = status_detail_set(STATUS_IO, _("%s: %s"), path, strerror(errno));
        goto fail;
    }
    if (b.oom) {
        st = STATUS_NOMEM;
        goto fail;
    }
    sf->buf = b.s ? b.s : calloc(1, 1);
    b.s = NULL;
    if (!sf->buf) {
        st = STATUS_NOMEM;
        goto fail;
    }
    size_t cap = 0, line = 0;
    /* a NUL byte would end the parse below early and drop the rest of the file quietly */
    const char *nul = memchr(sf->buf, '\0', b.n);
    if (nul) {
        line = 1;
        for (const char *q = sf->buf; q < nul; q++)
            line += *q == '\n';
        st = status_detail_set(STATUS_FORMAT,
                               _("%s:%zu: expected subject<TAB>relation<TAB>object"), path,
                               line);
        goto fail;
    }
    for (char *p = sf->buf; *p;) {
        char *e = strchr(p, '\n');
        if (e)
            *e = '\0';
        line++;
        size_t len = strlen(p);
        if (len && p[len - 1] == '\r')
            p[--len] = '\0';
        if (len && p[0] != '#') {
            char *t1 = strchr(p, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
            if (!t1 || !t2 || strchr(t2 + 1, '\t') || t1 == p || t2 == t1 + 1 || !t2[1]) {
                st = status_detail_set(STATUS_FORMAT,
                                       _("%s:%zu: expected subject<TAB>relation<TAB>object"),
                                       path, line);
                goto fail;
            }
            *t1 = *t2 = '\0';
            if (sf->n == cap) {
                size_t nc = cap ? 2 * cap : 256;
                struct synth_fact *nf = realloc(sf->f, nc * sizeof *nf);
                if (!nf) {
                    st = STATUS_NOMEM;
                    goto fail;
                }
                sf->f = nf;
                cap = nc;
            }
            sf->f[sf->n++] = (struct synth_fact){p, t1 + 1, t2 + 1};
        }
        if (!e)
            break;
        p = e + 1;
    }
    fclose(fp);
    *out = sf;
    return STATUS_OK;
fail:
    fclose(fp);
    free(b.s);
    synth_facts_free(sf);
    return st;
}

void synth_facts_free(struct synth_facts *f)
{
    if (!f)
        return;
    free(f->buf);
    free(f->f);
    free(f);
}

size_t synth_facts_count(const struct synth_facts *f)
{
    return f ? f->n : 0;
}

const struct synth_fact *synth_facts_get(const struct synth_facts *f, size_t i)
{
    return f && i < f->n ? &f->f[i] : NULL;
}

bool synth_fact_held_out(const char *subject)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)subject; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % 5 == 0;
}

/* ---- the generator -------------------------------------------------------------------- */

void synth_params_init(struct synth_params *p)
{
    *p = (struct synth_params){.seed = 1,
                               .n_examples = 100000,
                               .write_share = 0.45,
                               .unknown_share = 0.05,
                               .inline_share = 0.12,
                               .real_share = 0.2,
                               .edited_share = 0.3,
                               .context_share = 0.5,
                               .nofact_share = 0.1,
                               .two_share = 0.12,
                               .qa_share = 0.12,
                               .reverse_share = 0.2};
}

/* A fact being phrased: relation and names (pointers into the generator's buffers). */
struct fact {
    const struct rel *r;
    const char *s, *o;
};

struct gen {
    struct rng rng;
    const struct synth_params *p;
    /* real facts usable for training, per relation index (indices into facts) */
    const struct synth_facts *facts;
    size_t *real_idx[N_RELS];
    size_t n_real[N_RELS];
    /* name buffers */
    struct sb names[8];
    struct sb a, c, t; /* scratch: answer, context, text */
    traindata_sink sink;
    void *ctx;
    size_t index;
};

static const char *fresh(struct gen *g, size_t slot, enum et t)
{
    sb_clear(&g->names[slot]);
    gen_name(&g->rng, t, &g->names[slot]);
    return g->names[slot].s ? g->names[slot].s : "";
}

/* A random fact in names slots (slot, slot + 1); real with probability real_share. */
static struct fact pick_fact(struct gen *g, size_t slot, bool allow_real, bool *is_real)
{
    struct fact f;
    *is_real = false;
    if (allow_real && g->facts && rng_chance(&g->rng, g->p->real_share)) {
        size_t tries = 0;
        while (tries++ < 8) {
            size_t ri = rng_below(&g->rng, N_RELS);
            if (!g->n_real[ri])
                continue;
            const struct synth_fact *sf =
                &g->facts->f[g->real_idx[ri][rng_below(&g->rng, g->n_real[ri])]];
            *is_real = true;
            return (struct fact){&rels[ri], sf->s, sf->o};
        }
    }
    f.r = &rels[rng_below(&g->rng, N_RELS)];
    f.s = fresh(g, slot, f.r->s);
    f.o = fresh(g, slot + 1, f.r->o);
    if (strcmp(f.s, f.o) == 0) /* spouse with itself: vanishingly rare, but keep it clean */
        f.o = fresh(g, slot + 1, f.r->o);
    return f;
}

static enum status emit_write(struct gen *g, const char *context, const char *sentence,
                              const struct fact *tr, size_t n_tr)
{
    struct sb pr = {0}, co = {0};
    if (context && *context) {
        sb_addz(&pr, context);
        sb_addz(&pr, " ");
    }
    sb_addz(&pr, CALL_USER_ST);
    sb_addz(&pr, sentence);
    sb_addz(&pr, CALL_USER_END);
    sb_addz(&co, "({MEM_WRITE-->");
    for (size_t i = 0; i < n_tr; i++) {
        if (i)
            sb_addz(&co, ";");
        sb_addz(&co, tr[i].s);
        sb_addz(&co, ">>");
        sb_addz(&co, tr[i].r->name);
        sb_addz(&co, ">>");
        sb_addz(&co, tr[i].o);
    }
    sb_addz(&co, "})");
    enum status st = STATUS_NOMEM;
    if (!pr.oom && !co.oom) {
        struct traindata_example ex = {.kind = TRAINDATA_KIND_WRITE,
                                       .doc = g->index,
                                       .prompt = pr.s,
                                       .prompt_len = pr.n,
                                       .completion = co.s,
                                       .completion_len = co.n,
                                       .n_items = n_tr};
        st = g->sink(g->ctx, &ex);
    }
    free(pr.s);
    free(co.s);
    return st;
}

/* A read example: text with loss spans [b0,e0) and [b1, text end). */
static enum status emit_read(struct gen *g, const struct sb *text, size_t b0, size_t e0,
                             size_t b1, size_t n_items)
{
    if (text->oom)
        return STATUS_NOMEM;
    struct traindata_example ex = {.kind = TRAINDATA_KIND_READ,
                                   .doc = g->index,
                                   .text = text->s,
                                   .text_len = text->n,
                                   .loss_from = b0,
                                   .n_items = n_items};
    if (e0 > b0)
        ex.spans[ex.n_spans][0] = b0, ex.spans[ex.n_spans][1] = e0, ex.n_spans++;
    if (text->n > b1)
        ex.spans[ex.n_spans][0] = b1, ex.spans[ex.n_spans][1] = text->n, ex.n_spans++;
    return g->sink(g->ctx, &ex);
}

static const char *pronoun(struct gen *g, const struct rel *r)
{
    return r->person ? (rng_chance(&g->rng, 0.5) ? "he" : "she") : "it";
}

/* A random statement template of r that starts with "{s} ", or NULL. */
static const char *st_starting_s(struct gen *g, const struct rel *r)
{
    const char *c[MAXP];
    size_t n = 0;
    for (size_t i = 0; i < MAXP && r->st[i]; i++)
        if (strncmp(r->st[i], "{s} ", 4) == 0)
            c[n++] = r->st[i];
    return n ? c[rng_below(&g->rng, n)] : NULL;
}

/* One context sentence into g->c: a filler or a statement of an unrelated fact. */
static void make_context(struct gen *g)
{
    sb_clear(&g->c);
    bool real;
    if (rng_chance(&g->rng, 0.3)) {
        enum et t = (enum et)rng_below(&g->rng, ET_CONTINENT + 1);
        const char *x = fresh(g, 6, t);
        render(&g->c, PICK(&g->rng, fillers), x, x, NULL, NULL);
        return;
    }
    struct fact f = pick_fact(g, 6, true, &real);
    render(&g->c, f.r->st[rng_below(&g->rng, count_p(f.r->st))], f.s, f.o, NULL, NULL);
}

static enum status gen_write(struct gen *g)
{
    bool real;
    struct rng *r = &g->rng;
    const char *context = NULL;
    if (rng_chance(r, g->p->context_share)) {
        make_context(g);
        context = g->c.s;
    }
    sb_clear(&g->t);
    double u = rng_unit(r);
    if (u < g->p->nofact_share) {
        enum et t = (enum et)rng_below(r, ET_CONTINENT + 1);
        const char *x = fresh(g, 0, t);
        render(&g->t, PICK(r, fillers), x, x, NULL, NULL);
        return emit_write(g, context, g->t.s, NULL, 0);
    }
    u -= g->p->nofact_share;
    struct fact f = pick_fact(g, 0, true, &real);
    if (u < g->p->qa_share) {
        /* the ZsRE statement form: a question, then "It is or they are "answer"" */
        bool rev = count_p(f.r->rq) && rng_chance(r, g->p->reverse_share);
        sb_clear(&g->a);
        if (rev)
            render(&g->a, f.r->rq[rng_below(r, count_p(f.r->rq))], f.s, f.o, NULL, NULL);
        else
            render(&g->a, f.r->q[rng_below(r, count_p(f.r->q))], f.s, f.o, NULL, NULL);
        if (rng_chance(r, 0.25)) /* the question alone states nothing */
            return emit_write(g, context, g->a.s, NULL, 0);
        render(&g->t, "It is or they are \"{x}\"", rev ? f.s : f.o, NULL, NULL, NULL);
        return emit_write(g, g->a.s, g->t.s, &f, 1);
    }
    u -= g->p->qa_share;
    render(&g->t, f.r->st[rng_below(r, count_p(f.r->st))], f.s, f.o, NULL, NULL);
    if (u < g->p->two_share) {
        /* a second fact about the same subject, introduced with a pronoun */
        const struct rel *r2 = NULL;
        for (size_t tries = 0; tries < 16 && !r2; tries++) {
            const struct rel *c = &rels[rng_below(r, N_RELS)];
            if (c != f.r && c->s == f.r->s && st_starting_s(g, c))
                r2 = c;
        }
        if (r2 && g->t.n > 0 && g->t.s[g->t.n - 1] == '.') {
            struct fact f2 = {r2, f.s, fresh(g, 2, r2->o)};
            const char *tmpl = st_starting_s(g, r2);
            g->t.n--; /* drop the period */
            sb_addz(&g->t, ", and ");
            render(&g->t, tmpl, pronoun(g, r2), f2.o, NULL, NULL);
            struct fact two[2] = {f, f2};
            return emit_write(g, context, g->t.s, two, 2);
        }
    }
    return emit_write(g, context, g->t.s, &f, 1);
}

/* Answer text quoting the results: "X." or a statement that starts with the wanted name,
 * or (sometimes) any statement of the fact. */
static void make_answer(struct gen *g, const struct fact *f, bool rev, const char *res_text)
{
    struct rng *r = &g->rng;
    sb_clear(&g->a);
    double u = rng_unit(r);
    const char *lead = rev ? "{s}" : "{o}";
    if (u < 0.45) {
        sb_addz(&g->a, res_text);
        sb_addz(&g->a, ".");
        return;
    }
    const char *c[MAXP];
    size_t n = 0;
    for (size_t i = 0; i < MAXP && f->r->st[i]; i++)
        if (strncmp(f->r->st[i], lead, 3) == 0 || u >= 0.85)
            c[n++] = f->r->st[i];
    if (!n) {
        sb_addz(&g->a, res_text);
        sb_addz(&g->a, ".");
        return;
    }
    render(&g->a, c[rng_below(r, n)], f->s, f->o, NULL, NULL);
}

/* "({MEM_READ(s>>r>>)-->" or, subject wanted, "({MEM_READ(>>r>>o)-->". */
static void add_read_call(struct sb *t, const struct fact *f, bool rev)
{
    sb_addz(t, "({MEM_READ(");
    if (!rev)
        sb_addz(t, f->s);
    sb_addz(t, ">>");
    sb_addz(t, f->r->name);
    sb_addz(t, ">>");
    if (rev)
        sb_addz(t, f->o);
    sb_addz(t, ")-->");
}

static enum status gen_question_read(struct gen *g, bool unknown)
{
    struct rng *r = &g->rng;
    bool real;
    struct fact f = pick_fact(g, 0, true, &real);
    bool rev = count_p(f.r->rq) && rng_chance(r, g->p->reverse_share);
    sb_clear(&g->t);
    sb_addz(&g->t, "Q: ");
    if (rev)
        render(&g->t, f.r->rq[rng_below(r, count_p(f.r->rq))], f.s, f.o, NULL, NULL);
    else
        render(&g->t, f.r->q[rng_below(r, count_p(f.r->q))], f.s, f.o, NULL, NULL);
    sb_addz(&g->t, "\nA:");
    if (unknown) {
        size_t b = g->t.n;
        sb_addz(&g->t, " " SYNTH_UNKNOWN_ANSWER);
        return emit_read(g, &g->t, b, b, b, 0);
    }
    /* memory's answer: the fact's wanted name, changed for an edited real fact, and for
     * some subject-missing reads further subjects with the same object */
    struct fact shown = f;
    if (real && rng_chance(r, g->p->edited_share)) {
        size_t ri = (size_t)(f.r - rels);
        const struct synth_fact *o =
            &g->facts->f[g->real_idx[ri][rng_below(r, g->n_real[ri])]];
        if (rev)
            shown.s = o->s;
        else
            shown.o = o->o;
    }
    struct sb res = {0};
    sb_addz(&res, rev ? shown.s : shown.o);
    size_t n_res = 1;
    if (rev && !real && rng_chance(r, 0.25)) {
        size_t extra = 1 + rng_below(r, 2);
        for (size_t i = 0; i < extra; i++) {
            sb_addz(&res, ";");
            sb_addz(&res, fresh(g, 3 + i, f.r->s));
            n_res++;
        }
    }
    size_t call = g->t.n;
    add_read_call(&g->t, &f, rev);
    size_t call_end = g->t.n;
    sb_addz(&g->t, res.s ? res.s : "");
    sb_addz(&g->t, "})");
    size_t ans = g->t.n;
    if (n_res > 1) {
        /* "A, B and C." */
        char *save = res.s;
        size_t k = 0;
        for (char *p = strtok(save, ";"); p; p = strtok(NULL, ";"), k++) {
            if (k)
                sb_addz(&g->t, k + 1 == n_res ? " and " : ", ");
            sb_addz(&g->t, p);
        }
        sb_addz(&g->t, ".");
    } else {
        make_answer(g, &shown, rev, res.s ? res.s : "");
        sb_addz(&g->t, g->a.s ? g->a.s : "");
    }
    bool oom = res.oom;
    free(res.s);
    if (oom)
        return STATUS_NOMEM;
    return emit_read(g, &g->t, call, call_end, ans, 1);
}

static enum status gen_inline_read(struct gen *g)
{
    struct rng *r = &g->rng;
    bool real;
    struct fact f = pick_fact(g, 0, true, &real);
    const char *tmpl = f.r->st[rng_below(r, count_p(f.r->st))];
    /* the name mentioned second is the one read */
    const char *ps = strstr(tmpl, "{s}"), *po = strstr(tmpl, "{o}");
    if (!ps || !po)
        return STATUS_OK;
    bool rev = ps > po;
    sb_clear(&g->t);
    if (rng_chance(r, g->p->context_share)) {
        make_context(g);
        sb_addz(&g->t, g->c.s);
        sb_addz(&g->t, " ");
    }
    const char *cut = rev ? ps : po;
    size_t head = (size_t)(cut - tmpl);
    char *pre = malloc(head + 1);
    if (!pre)
        return STATUS_NOMEM;
    memcpy(pre, tmpl, head);
    pre[head] = '\0';
    render(&g->t, pre, f.s, f.o, NULL, NULL);
    free(pre);
    size_t call = g->t.n;
    add_read_call(&g->t, &f, rev);
    size_t call_end = g->t.n;
    sb_addz(&g->t, rev ? f.s : f.o);
    sb_addz(&g->t, "})");
    size_t after = g->t.n;
    render(&g->t, cut, f.s, f.o, NULL, NULL);
    return emit_read(g, &g->t, call, call_end, after, 1);
}

static void gen_free(struct gen *g)
{
    for (size_t k = 0; k < sizeof g->names / sizeof g->names[0]; k++)
        free(g->names[k].s);
    free(g->a.s);
    free(g->c.s);
    free(g->t.s);
}

static bool share_ok(double x)
{
    return x >= 0.0 && x <= 1.0;
}

enum status synth_generate(const struct synth_params *p, const struct synth_facts *facts,
                           traindata_sink sink, void *ctx)
{
    if (!share_ok(p->write_share) || !share_ok(p->unknown_share) ||
        !share_ok(p->inline_share) || !share_ok(p->real_share) ||
        !share_ok(p->edited_share) || !share_ok(p->context_share) ||
        !share_ok(p->nofact_share) || !share_ok(p->two_share) || !share_ok(p->qa_share) ||
        !share_ok(p->reverse_share) || p->write_share + p->unknown_share + p->inline_share > 1.0 ||
        p->nofact_share + p->qa_share + p->two_share > 1.0)
        return status_detail_set(STATUS_INVALID, "%s", _("synthetic data: shares must lie in "
                                                          "[0, 1] and add up to at most 1"));
    struct gen g = {.rng = {p->seed * 0x2545f4914f6cdd1dULL + 1}, .p = p, .facts = facts,
                    .sink = sink, .ctx = ctx};
    enum status st = STATUS_OK;
    for (size_t ri = 0; facts && ri < N_RELS; ri++) {
        if (!rels[ri].real)
            continue;
        g.real_idx[ri] = malloc((facts->n ? facts->n : 1) * sizeof(size_t));
        if (!g.real_idx[ri]) {
            st = STATUS_NOMEM;
            goto done;
        }
        for (size_t i = 0; i < facts->n; i++)
            if (strcmp(facts->f[i].r, rels[ri].name) == 0 &&
                strcmp(facts->f[i].s, facts->f[i].o) != 0 &&
                !synth_fact_held_out(facts->f[i].s) &&
                call_name_check(facts->f[i].s, strlen(facts->f[i].s), NULL) == CALL_ERR_NONE &&
                call_name_check(facts->f[i].o, strlen(facts->f[i].o), NULL) == CALL_ERR_NONE)
                g.real_idx[ri][g.n_real[ri]++] = i;
    }
    for (size_t i = 0; i < p->n_examples && st == STATUS_OK; i++) {
        g.index = i;
        double u = rng_unit(&g.rng);
        if (u < p->write_share)
            st = gen_write(&g);
        else if (u < p->write_share + p->unknown_share)
            st = gen_question_read(&g, true);
        else if (u < p->write_share + p->unknown_share + p->inline_share)
            st = gen_inline_read(&g);
        else
            st = gen_question_read(&g, false);
        for (size_t k = 0; k < 8; k++)
            if (g.names[k].oom)
                st = STATUS_NOMEM;
        if (g.a.oom || g.c.oom || g.t.oom)
            st = STATUS_NOMEM;
    }
done:
    for (size_t ri = 0; ri < N_RELS; ri++)
        free(g.real_idx[ri]);
    gen_free(&g);
    return st;
}

/* ---- ZsRE records --------------------------------------------------------------------- */

/* A random one of the held-out facts held[0..n) (indices into facts, each of a relation in
 * rels). */
static struct fact held_fact(struct gen *g, const struct synth_facts *facts,
                             const size_t *held, size_t n)
{
    const struct synth_fact *sf = &facts->f[held[rng_below(&g->rng, n)]];
    size_t ri = 0;
    while (strcmp(rels[ri].name, sf->r) != 0)
        ri++;
    return (struct fact){&rels[ri], sf->s, sf->o};
}

enum status synth_zsre_write(uint64_t seed, size_t n, const struct synth_facts *facts, FILE *f)
{
    struct synth_params p;
    synth_params_init(&p);
    struct gen g = {.rng = {seed * 0x9e3779b97f4a7c15ULL + 7}, .p = &p};
    /* held-out real facts of relations the generator phrases */
    size_t *held = NULL, n_held = 0;
    enum status st = STATUS_OK;
    if (facts && facts->n) {
        held = malloc(facts->n * sizeof *held);
        if (!held)
            return STATUS_NOMEM;
        for (size_t i = 0; i < facts->n; i++) {
            if (!synth_fact_held_out(facts->f[i].s))
                continue;
            for (size_t ri = 0; ri < N_RELS; ri++)
                if (rels[ri].real && strcmp(rels[ri].name, facts->f[i].r) == 0)
                    held[n_held++] = i;
        }
    }
    fputs("[", f);
    struct sb src = {0}, reph = {0}, loc = {0};
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        struct fact fa, lf;
        const char *alt;
        if (n_held && i % 4 == 3) {
            fa = held_fact(&g, facts, held, n_held);
            alt = fresh(&g, 1, fa.r->o); /* a changed, invented answer */
            /* made up from a few names (continents) it may be the true one: draw again */
            for (size_t tries = 0; tries < 16 && strcmp(alt, fa.o) == 0; tries++)
                alt = fresh(&g, 1, fa.r->o);
        } else {
            bool real;
            fa = pick_fact(&g, 0, false, &real);
            alt = fa.o;
        }
        if (n_held) {
            lf = held_fact(&g, facts, held, n_held);
        } else {
            bool real;
            lf = pick_fact(&g, 4, false, &real);
        }
        sb_clear(&src);
        sb_clear(&reph);
        sb_clear(&loc);
        render(&src, fa.r->q[rng_below(&g.rng, count_p(fa.r->q))], fa.s, alt, NULL, NULL);
        render(&reph, fa.r->gen, fa.s, alt, NULL, NULL);
        render(&loc, lf.r->q[rng_below(&g.rng, count_p(lf.r->q))], lf.s, lf.o, NULL, NULL);
        if (src.oom || reph.oom || loc.oom) {
            st = STATUS_NOMEM;
            break;
        }
        fputs(i ? ",\n{\"src\":" : "\n{\"src\":", f);
        json_write_str(f, src.s, src.n);
        fputs(",\"alt\":", f);
        json_write_str(f, alt, strlen(alt));
        fputs(",\"rephrase\":", f);
        json_write_str(f, reph.s, reph.n);
        fputs(",\"loc\":", f);
        json_write_str(f, loc.s, loc.n);
        fputs(",\"loc_ans\":", f);
        json_write_str(f, lf.o, strlen(lf.o));
        fputs(",\"subject\":", f);
        json_write_str(f, fa.s, strlen(fa.s));
        fputs("}", f);
        if (ferror(f))
            st = status_detail_set(STATUS_IO, "%s", strerror(errno));
    }
    fputs("\n]\n", f);
    if (st == STATUS_OK && ferror(f))
        st = status_detail_set(STATUS_IO, "%s", strerror(errno));
    free(held);
    free(src.s);
    free(reph.s);
    free(loc.s);
    gen_free(&g);
    return st;
}

/* ---- Re-DocRED-format documents -------------------------------------------------------- */

struct dmention {
    size_t ent, sent, b, e; /* entity, sentence, token range */
};

struct ddoc {
    struct sb toks;        /* every token followed by '\0' */
    size_t sent_first[8];  /* index of each sentence's first token */
    size_t n_sents, n_toks;
    struct dmention m[32];
    size_t n_m;
};

static void dtok(struct ddoc *d, const char *s, size_t n)
{
    if (!n)
        return;
    sb_add(&d->toks, s, n);
    sb_add(&d->toks, "", 1);
    d->n_toks++;
}

/* Tokens of literal text: split at spaces; "," "." ";" ":" "?" "!" and "'s" on their own. */
static void dtok_text(struct ddoc *d, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && s[i] == ' ')
            i++;
        size_t j = i;
        while (j < n && s[j] != ' ')
            j++;
        size_t w = i, we = j;
        if (we - w >= 2 && s[w] == '\'' && s[w + 1] == 's') {
            dtok(d, s + w, 2);
            w += 2;
        }
        size_t tail = we;
        while (tail > w && strchr(".,;:?!", s[tail - 1]))
            tail--;
        dtok(d, s + w, tail - w);
        for (size_t k = tail; k < we; k++)
            dtok(d, s + k, 1);
        i = j;
    }
}

/* Sentence from template tmpl with {s} = entity es named s, {o} = entity eo named o. */
static void dsent(struct ddoc *d, const char *tmpl, size_t es, const char *s, size_t eo,
                  const char *o)
{
    size_t sent = d->n_sents++;
    d->sent_first[sent] = d->n_toks;
    for (const char *p = tmpl; *p;) {
        if (p[0] == '{' && (p[1] == 's' || p[1] == 'o' || p[1] == 'x') && p[2] == '}') {
            bool is_s = p[1] != 'o';
            const char *nm = is_s ? s : o;
            size_t b = d->n_toks - d->sent_first[sent];
            for (const char *w = nm; *w;) { /* a name splits at spaces only ("Inc.") */
                while (*w == ' ')
                    w++;
                size_t wl = strcspn(w, " ");
                dtok(d, w, wl);
                w += wl;
            }
            if (d->n_m < sizeof d->m / sizeof d->m[0])
                d->m[d->n_m++] = (struct dmention){is_s ? es : eo, sent, b,
                                                   d->n_toks - d->sent_first[sent]};
            p += 3;
        } else {
            const char *q = p + 1;
            while (*q && *q != '{')
                q++;
            dtok_text(d, p, (size_t)(q - p));
            p = q;
        }
    }
}

enum status synth_docred_write(uint64_t seed, size_t n, FILE *f)
{
    struct synth_params p;
    synth_params_init(&p);
    struct gen g = {.rng = {seed * 0xd1342543de82ef95ULL + 3}, .p = &p};
    enum status st = STATUS_OK;
    fputs("[", f);
    for (size_t di = 0; di < n && st == STATUS_OK; di++) {
        struct ddoc d = {0};
        /* a subject and 2..4 facts about it with distinct relations */
        const struct rel *r0 = &rels[rng_below(&g.rng, N_RELS)];
        const char *subj = fresh(&g, 0, r0->s);
        const struct rel *rs[4];
        const char *objs[4];
        size_t nf = 1, want = 2 + rng_below(&g.rng, 3);
        rs[0] = r0;
        objs[0] = fresh(&g, 1, r0->o);
        for (size_t tries = 0; tries < 64 && nf < want; tries++) {
            const struct rel *c = &rels[rng_below(&g.rng, N_RELS)];
            bool dup = c->s != r0->s;
            for (size_t k = 0; k < nf; k++)
                dup = dup || rs[k] == c;
            if (dup)
                continue;
            rs[nf] = c;
            objs[nf] = fresh(&g, 1 + nf, c->o);
            nf++;
        }
        size_t filler_at = rng_chance(&g.rng, 0.5) ? 1 + rng_below(&g.rng, nf) : SIZE_MAX;
        for (size_t k = 0; k < nf; k++) {
            if (k == filler_at) {
                dsent(&d, fillers[rng_below(&g.rng, sizeof fillers / sizeof fillers[0])], 0,
                      subj, 0, subj);
            }
            /* the subject first, so that each object's first mention follows it */
            const char *c[MAXP];
            size_t nc = 0;
            for (size_t i = 0; i < MAXP && rs[k]->st[i]; i++) {
                const char *ps = strstr(rs[k]->st[i], "{s}"), *po = strstr(rs[k]->st[i], "{o}");
                if (ps && po && ps < po)
                    c[nc++] = rs[k]->st[i];
            }
            if (!nc)
                c[nc++] = rs[k]->st[0];
            dsent(&d, c[rng_below(&g.rng, nc)], 0, subj, 1 + k, objs[k]);
        }
        if (d.toks.oom || g.t.oom) {
            free(d.toks.s);
            st = STATUS_NOMEM;
            break;
        }
        /* JSON */
        fputs(di ? ",\n{\"title\":" : "\n{\"title\":", f);
        json_write_str(f, subj, strlen(subj));
        fputs(",\"sents\":[", f);
        const char *tk = d.toks.s;
        for (size_t si = 0; si < d.n_sents; si++) {
            size_t end = si + 1 < d.n_sents ? d.sent_first[si + 1] : d.n_toks;
            fputs(si ? ",[" : "[", f);
            for (size_t t = d.sent_first[si]; t < end; t++) {
                size_t len = strlen(tk);
                if (t > d.sent_first[si])
                    fputc(',', f);
                json_write_str(f, tk, len);
                tk += len + 1;
            }
            fputc(']', f);
        }
        fputs("],\"vertexSet\":[", f);
        const char *names[5] = {subj, objs[0], nf > 1 ? objs[1] : "", nf > 2 ? objs[2] : "",
                                nf > 3 ? objs[3] : ""};
        for (size_t e = 0; e <= nf; e++) {
            fputs(e ? ",[" : "[", f);
            bool first = true;
            for (size_t k = 0; k < d.n_m; k++) {
                if (d.m[k].ent != e)
                    continue;
                fputs(first ? "{\"name\":" : ",{\"name\":", f);
                first = false;
                json_write_str(f, names[e], strlen(names[e]));
                fprintf(f, ",\"sent_id\":%zu,\"pos\":[%zu,%zu],\"type\":\"MISC\"}", d.m[k].sent,
                        d.m[k].b, d.m[k].e);
            }
            fputc(']', f);
        }
        fputs("],\"labels\":[", f);
        for (size_t k = 0; k < nf; k++) {
            size_t ev = 0;
            for (size_t q = 0; q < d.n_m; q++)
                if (d.m[q].ent == 1 + k)
                    ev = d.m[q].sent;
            fprintf(f, "%s{\"h\":0,\"t\":%zu,\"r\":", k ? "," : "", 1 + k);
            json_write_str(f, rs[k]->name, strlen(rs[k]->name));
            fprintf(f, ",\"evidence\":[%zu]}", ev);
        }
        fputs("]}", f);
        free(d.toks.s);
        if (ferror(f))
            st = status_detail_set(STATUS_IO, "%s", strerror(errno));
    }
    fputs("\n]\n", f);
    if (st == STATUS_OK && ferror(f))
        st = status_detail_set(STATUS_IO, "%s", strerror(errno));
    gen_free(&g);
    return st;
}
