/*
 * hangar.h: Hangar plugins in C (C11, clang --target=wasm32-wasi with wasi-libc).
 *
 * One header, no other dependency. It implements, on Extism's guest ABI (imports of module
 * "extism:host/env") and Hangar's own host functions (module "hangar"):
 *
 *   - the batch ABI v1 (docs/PLUGINS.md; sdk/abi in the Go module): the input batch (a version
 *     byte, a uvarint record count, each record a uvarint length and its JSON) is read in one
 *     copy (hangar input_read), a handler runs once per record, and the output (one result per
 *     record: its events, or its error) is written in one copy (hangar output_write);
 *   - the event encoding v1 (sdk.Event.AppendBinary), byte for byte;
 *   - a small JSON reader for the projected records: strings, numbers and booleans at a dotted
 *     path ("tool_input.file_path"); it never reads outside the record, whatever the record holds;
 *   - the host functions log, kv_read and kv_write.
 *
 * A capture plugin:
 *
 *   #include "hangar.h"
 *
 *   static void handle(hangar_record *rec) {
 *     hangar_str name;
 *     if (!hangar_get_string(rec, "hook_event_name", &name) || name.len == 0) {
 *       hangar_fail(rec, HANGAR_LIT("no hook_event_name"));   // fails this record only
 *       return;
 *     }
 *     hangar_event *ev = hangar_event_new(rec, hangar_concat(rec, HANGAR_LIT("hook."), name));
 *     hangar_str tool;
 *     if (hangar_get_string(rec, "tool_name", &tool)) hangar_event_ident(ev, "tool_name", tool);
 *   }
 *
 *   HANGAR_EXPORT("capture") int32_t capture(void) { return hangar_run(handle); }
 *
 * Build: clang --target=wasm32-wasi -O2 -nostartfiles -Wl,--no-entry -Wl,--export=capture \
 *          -o plugin.wasm plugin.c
 *
 * Lifetimes: strings a lookup returns, and the record's JSON, are valid until the handler
 * returns. An event is built until the next hangar_event_new or the handler's return, whichever
 * comes first; the pointer is not valid after that.
 *
 * Everything here is static: include the header in the one file that defines the export.
 */
#ifndef HANGAR_H
#define HANGAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__wasm32__)
#error "hangar.h builds WebAssembly plugins: compile with clang --target=wasm32-wasi"
#endif

/* HANGAR_EXPORT names a function as a module export ("capture", "enrich", "insight"). */
#define HANGAR_EXPORT(name) __attribute__((export_name(name), used))

/* ------------------------------------------------------------------------------------------ */
/* Imports */

#define HANGAR__IMPORT(module, name) __attribute__((import_module(module), import_name(name)))

/* Extism's kernel: the call's input length, blocks in Extism's memory (64-bit offsets), and the
 * call's error. */
HANGAR__IMPORT("extism:host/env", "input_length") uint64_t hangar__extism_input_length(void);
HANGAR__IMPORT("extism:host/env", "alloc") uint64_t hangar__extism_alloc(uint64_t length);
HANGAR__IMPORT("extism:host/env", "store_u8") void hangar__extism_store_u8(uint64_t offset, uint32_t v);
HANGAR__IMPORT("extism:host/env", "store_u64") void hangar__extism_store_u64(uint64_t offset, uint64_t v);
HANGAR__IMPORT("extism:host/env", "error_set") void hangar__extism_error_set(uint64_t offset);

/* Hangar's batch ABI functions: the whole input and output, one copy each, in guest memory. */
HANGAR__IMPORT("hangar", "input_read") void hangar__input_read(void *dst, uint32_t n);
HANGAR__IMPORT("hangar", "output_write") void hangar__output_write(const void *src, uint32_t n);

/* Hangar's host functions (each needs its capability; see docs/PLUGINS.md "Host functions"). */
HANGAR__IMPORT("hangar", "log") void hangar__log(uint64_t level, uint64_t msg);
HANGAR__IMPORT("hangar", "kv_read")
int32_t hangar__kv_read(const void *key, uint32_t key_len, void *dst, uint32_t cap);
HANGAR__IMPORT("hangar", "kv_write")
void hangar__kv_write(const void *key, uint32_t key_len, const void *value, uint32_t value_len);

/* ------------------------------------------------------------------------------------------ */
/* Strings and buffers */

/* hangar_str is a string (or any bytes) by pointer and length; it need not end in a NUL. */
typedef struct {
  const char *ptr;
  size_t len;
} hangar_str;

/* HANGAR_LIT makes a hangar_str of a string literal. */
#define HANGAR_LIT(s) ((hangar_str){(s), sizeof(s) - 1})

/* hangar_cstr makes a hangar_str of a NUL-terminated string. */
static inline hangar_str hangar_cstr(const char *s) { return (hangar_str){s, s ? strlen(s) : 0}; }

/* hangar_str_eq reports whether a and b hold the same bytes. */
static inline bool hangar_str_eq(hangar_str a, hangar_str b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* hangar__buf is a growable byte buffer; a failed allocation sets oom and drops what follows. */
typedef struct {
  uint8_t *ptr;
  size_t len, cap;
  bool oom;
} hangar__buf;

static inline bool hangar__grow(hangar__buf *b, size_t n) {
  if (b->oom) return false;
  if (n <= b->cap - b->len) return true;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < n) {
    if (cap > SIZE_MAX / 2) {
      b->oom = true;
      return false;
    }
    cap *= 2;
  }
  uint8_t *p = (uint8_t *)realloc(b->ptr, cap);
  if (!p) {
    b->oom = true;
    return false;
  }
  b->ptr = p;
  b->cap = cap;
  return true;
}

static inline void hangar__put(hangar__buf *b, const void *p, size_t n) {
  if (n && hangar__grow(b, n)) {
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
  }
}

static inline void hangar__byte(hangar__buf *b, uint8_t c) { hangar__put(b, &c, 1); }

/* hangar__uvarint appends v as unsigned LEB128 (Go's binary.AppendUvarint). */
static inline void hangar__uvarint(hangar__buf *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  while (v >= 0x80) {
    tmp[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  tmp[n++] = (uint8_t)v;
  hangar__put(b, tmp, n);
}

static inline size_t hangar__uvarint_len(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) n++;
  return n;
}

/* hangar__zigzag maps an int64 to the uint64 Go's binary.AppendVarint writes as a uvarint. */
static inline uint64_t hangar__zigzag(int64_t x) {
  uint64_t ux = (uint64_t)x << 1;
  return x < 0 ? ~ux : ux;
}

/* hangar__string appends a uvarint length and the bytes. */
static inline void hangar__string(hangar__buf *b, const void *p, size_t n) {
  hangar__uvarint(b, n);
  hangar__put(b, p, n);
}

static inline void hangar__decimal(hangar__buf *b, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[sizeof tmp - ++n] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  hangar__put(b, tmp + sizeof tmp - n, n);
}

/* hangar__extism_store copies bytes into a new block of Extism's memory, 8 bytes per host call
 * (each byte one host call for the rest), and returns its offset. */
static inline uint64_t hangar__extism_store(const void *p, size_t n) {
  const uint8_t *s = (const uint8_t *)p;
  uint64_t off = hangar__extism_alloc(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, s + i, 8); /* wasm is little-endian, as store_u64 */
    hangar__extism_store_u64(off + i, v);
  }
  for (; i < n; i++) hangar__extism_store_u8(off + i, s[i]);
  return off;
}

/* ------------------------------------------------------------------------------------------ */
/* Records, events and results */

/* hangar__scratch heads a block of memory that lives until the current record's handler returns;
 * the block's bytes follow it, 16-byte aligned as malloc's. */
typedef union hangar__scratch {
  union hangar__scratch *next;
  max_align_t align;
} hangar__scratch;

typedef struct hangar_event hangar_event;

/* hangar_record is one input record: a JSON object holding exactly the fields the plugin was
 * granted (docs/PLUGINS.md "Capabilities"), and what the handler makes of it. */
typedef struct hangar_record {
  /* json and len are the record's bytes, valid until the handler returns. */
  const uint8_t *json;
  size_t len;
  /* index is the record's position in the call's batch. */
  size_t index;
  /* The rest is the SDK's. */
  hangar__buf events; /* the encoded events (each its length and its encoding) */
  uint64_t nevents;
  hangar__buf error; /* the message, when failed */
  bool failed;
  hangar__scratch *scratch;
} hangar_record;

/* hangar_event is an event being built: hangar_event_new begins one. */
struct hangar_event {
  hangar_record *rec;
  bool active;
  hangar__buf kind, session, attrs;
  int64_t time;
  uint64_t nattrs;
};

/* HANGAR_NO_TIME is the time of an event without one (Go's zero time.Time; the host then sets
 * when the record was received). */
#define HANGAR_NO_TIME INT64_MIN

/* Log levels for hangar_log. */
enum { HANGAR_DEBUG = 0, HANGAR_INFO = 1, HANGAR_WARN = 2, HANGAR_ERROR = 3 };

/* hangar_handler turns one record into events (hangar_event_new) or fails it (hangar_fail). */
typedef void (*hangar_handler)(hangar_record *rec);

static hangar_event hangar__event;

/* hangar_alloc returns n bytes that live until the record's handler returns, or NULL. */
static inline void *hangar_alloc(hangar_record *rec, size_t n) {
  if (n > SIZE_MAX - sizeof(hangar__scratch)) return NULL;
  hangar__scratch *s = (hangar__scratch *)malloc(sizeof(hangar__scratch) + n);
  if (!s) return NULL;
  s->next = rec->scratch;
  rec->scratch = s;
  return s + 1;
}

/* hangar_concat returns a followed by b, valid until the handler returns, with a NUL after it (so
 * that it may serve as a path); "" if out of memory. */
static inline hangar_str hangar_concat(hangar_record *rec, hangar_str a, hangar_str b) {
  char *p = (char *)hangar_alloc(rec, a.len + b.len + 1);
  if (!p) return HANGAR_LIT("");
  if (a.len) memcpy(p, a.ptr, a.len);
  if (b.len) memcpy(p + a.len, b.ptr, b.len);
  p[a.len + b.len] = 0;
  return (hangar_str){p, a.len + b.len};
}

/* hangar_fail fails the record with a message: it goes to the dead-letter queue, and its events
 * are dropped. Say what went wrong, not what the record held (see docs/PLUGINS.md). A record a
 * plugin has nothing to say about should get no events, not an error. An empty message becomes
 * "record failed": the host reads an empty one as no error at all. */
static inline void hangar_fail(hangar_record *rec, hangar_str msg) {
  if (msg.len == 0) msg = HANGAR_LIT("record failed");
  rec->failed = true;
  rec->error.len = 0;
  hangar__put(&rec->error, msg.ptr, msg.len);
}

/* hangar__event_end encodes the event being built, if any, into its record's events. */
static inline void hangar__event_end(void) {
  hangar_event *ev = &hangar__event;
  if (!ev->active) return;
  ev->active = false;
  hangar_record *rec = ev->rec;
  uint64_t t = hangar__zigzag(ev->time), none = hangar__zigzag(HANGAR_NO_TIME);
  size_t body = 1 + 16 + 1 + hangar__uvarint_len(ev->kind.len) + ev->kind.len +
                hangar__uvarint_len(ev->session.len) + ev->session.len + hangar__uvarint_len(t) +
                hangar__uvarint_len(none) + hangar__uvarint_len(ev->nattrs) + ev->attrs.len;
  static const uint8_t head[18] = {1}; /* version 1, a zero id, platform "" */
  hangar__buf *b = &rec->events;
  hangar__uvarint(b, body);
  hangar__put(b, head, sizeof head);
  hangar__string(b, ev->kind.ptr, ev->kind.len);
  hangar__string(b, ev->session.ptr, ev->session.len);
  hangar__uvarint(b, t);
  hangar__uvarint(b, none); /* ingest time: the store sets it */
  hangar__uvarint(b, ev->nattrs);
  hangar__put(b, ev->attrs.ptr, ev->attrs.len);
  if (ev->kind.oom || ev->session.oom || ev->attrs.oom) b->oom = true;
  rec->nevents++;
}

/* hangar_event_new begins the record's next event, of a kind (such as "hook.PreToolUse"), with
 * no session, no time and no attributes. The pointer is valid until the next hangar_event_new
 * or the handler's return, which end the event. */
static inline hangar_event *hangar_event_new(hangar_record *rec, hangar_str kind) {
  hangar__event_end();
  hangar_event *ev = &hangar__event;
  ev->rec = rec;
  ev->active = true;
  ev->kind.len = ev->session.len = ev->attrs.len = 0;
  ev->kind.oom = ev->session.oom = ev->attrs.oom = false;
  ev->time = HANGAR_NO_TIME;
  ev->nattrs = 0;
  hangar__put(&ev->kind, kind.ptr, kind.len);
  return ev;
}

/* hangar_event_session sets the event's session id (an identifier). */
static inline void hangar_event_session(hangar_event *ev, hangar_str session) {
  ev->session.len = 0;
  hangar__put(&ev->session, session.ptr, session.len);
}

/* hangar_event_time sets the event's time in Unix nanoseconds; HANGAR_NO_TIME for none. */
static inline void hangar_event_time(hangar_event *ev, int64_t unix_nanos) { ev->time = unix_nanos; }

static inline void hangar__attr(hangar_event *ev, const char *key, uint8_t kind) {
  hangar__string(&ev->attrs, key, strlen(key));
  hangar__byte(&ev->attrs, kind);
  ev->nattrs++;
}

/* Attributes. Keys are lowercase snake_case, unique within the event; at most 64 of them. */

/* hangar_event_int adds an int attribute. */
static inline void hangar_event_int(hangar_event *ev, const char *key, int64_t v) {
  hangar__attr(ev, key, 1);
  hangar__uvarint(&ev->attrs, hangar__zigzag(v));
}

/* hangar_event_float adds a float attribute (it must be finite). */
static inline void hangar_event_float(hangar_event *ev, const char *key, double v) {
  hangar__attr(ev, key, 2);
  uint64_t bits;
  memcpy(&bits, &v, 8);
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(bits >> (8 * i));
  hangar__put(&ev->attrs, le, 8);
}

/* hangar_event_bool adds a bool attribute. */
static inline void hangar_event_bool(hangar_event *ev, const char *key, bool v) {
  hangar__attr(ev, key, 3);
  hangar__byte(&ev->attrs, v ? 1 : 0);
}

/* hangar_event_ident adds an identifier attribute: printable ASCII without spaces, at most 128
 * bytes (a tool name, a model, an extension). */
static inline void hangar_event_ident(hangar_event *ev, const char *key, hangar_str v) {
  hangar__attr(ev, key, 4);
  hangar__string(&ev->attrs, v.ptr, v.len);
}

/* hangar_event_hash adds a hash attribute: 1 to 32 opaque bytes (a salted hash). */
static inline void hangar_event_hash(hangar_event *ev, const char *key, const void *p, size_t n) {
  hangar__attr(ev, key, 5);
  hangar__string(&ev->attrs, p, n);
}

/* hangar_event_sketch adds a sketch attribute: n entries (1 to 256), indices strictly
 * increasing, values finite. */
static inline void hangar_event_sketch(hangar_event *ev, const char *key, const uint16_t *idx,
                                       const float *val, size_t n) {
  hangar__attr(ev, key, 6);
  hangar__uvarint(&ev->attrs, n);
  for (size_t i = 0; i < n; i++) {
    uint32_t bits;
    memcpy(&bits, &val[i], 4);
    uint8_t e[6] = {(uint8_t)idx[i], (uint8_t)(idx[i] >> 8), (uint8_t)bits, (uint8_t)(bits >> 8),
                    (uint8_t)(bits >> 16), (uint8_t)(bits >> 24)};
    hangar__put(&ev->attrs, e, 6);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* The JSON reader. Every index is checked against the record's length: a malformed record makes
 * a lookup fail, never read outside it. */

#define HANGAR__NPOS ((size_t)-1)

static inline bool hangar__space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static inline size_t hangar__skip_space(const uint8_t *b, size_t n, size_t i) {
  while (i < n && hangar__space(b[i])) i++;
  return i;
}

/* hangar__skip_string returns the index after the string at b[i] == '"', or NPOS. */
static inline size_t hangar__skip_string(const uint8_t *b, size_t n, size_t i) {
  for (i++; i < n; i++) {
    if (b[i] == '\\') {
      i++;
      continue;
    }
    if (b[i] == '"') return i + 1;
  }
  return HANGAR__NPOS;
}

/* hangar__skip_value returns the index after the value at b[i], or NPOS. */
static inline size_t hangar__skip_value(const uint8_t *b, size_t n, size_t i) {
  if (i >= n) return HANGAR__NPOS;
  if (b[i] == '"') return hangar__skip_string(b, n, i);
  if (b[i] == '{' || b[i] == '[') {
    size_t depth = 0;
    while (i < n) {
      uint8_t c = b[i];
      if (c == '"') {
        i = hangar__skip_string(b, n, i);
        if (i == HANGAR__NPOS) return i;
        continue;
      }
      if (c == '{' || c == '[') depth++;
      else if ((c == '}' || c == ']') && --depth == 0) return i + 1;
      i++;
    }
    return HANGAR__NPOS;
  }
  size_t start = i; /* a number, true, false or null: up to the next delimiter */
  while (i < n && b[i] != ',' && b[i] != '}' && b[i] != ']' && !hangar__space(b[i])) i++;
  return i > start ? i : HANGAR__NPOS;
}

static inline int hangar__hex(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static inline long hangar__hex4(const uint8_t *s, size_t n, size_t i) {
  if (i + 4 > n) return -1;
  long v = 0;
  for (size_t k = 0; k < 4; k++) {
    int h = hangar__hex(s[i + k]);
    if (h < 0) return -1;
    v = v << 4 | h;
  }
  return v;
}

/* hangar__unescape decodes the n bytes of a JSON string's body (between its quotes) into dst,
 * which has room for n bytes (decoding never lengthens), and returns the length, or NPOS for a
 * malformed \u escape. A lone surrogate becomes U+FFFD, as in Go. */
static inline size_t hangar__unescape(const uint8_t *s, size_t n, uint8_t *dst) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c != '\\') {
      dst[o++] = c;
      continue;
    }
    if (++i >= n) return HANGAR__NPOS;
    switch (s[i]) {
    case 'n': dst[o++] = '\n'; break;
    case 't': dst[o++] = '\t'; break;
    case 'r': dst[o++] = '\r'; break;
    case 'b': dst[o++] = '\b'; break;
    case 'f': dst[o++] = '\f'; break;
    case 'u': {
      long cp = hangar__hex4(s, n, i + 1);
      if (cp < 0) return HANGAR__NPOS;
      i += 4;
      if (cp >= 0xd800 && cp < 0xe000) {
        long lo = (cp < 0xdc00 && i + 2 < n && s[i + 1] == '\\' && s[i + 2] == 'u')
                      ? hangar__hex4(s, n, i + 3) : -1;
        if (lo >= 0xdc00 && lo < 0xe000) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          i += 6;
        } else {
          cp = 0xfffd;
        }
      }
      if (cp < 0x80) {
        dst[o++] = (uint8_t)cp;
      } else if (cp < 0x800) {
        dst[o++] = (uint8_t)(0xc0 | cp >> 6);
        dst[o++] = (uint8_t)(0x80 | (cp & 0x3f));
      } else if (cp < 0x10000) {
        dst[o++] = (uint8_t)(0xe0 | cp >> 12);
        dst[o++] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        dst[o++] = (uint8_t)(0x80 | (cp & 0x3f));
      } else {
        dst[o++] = (uint8_t)(0xf0 | cp >> 18);
        dst[o++] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
        dst[o++] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        dst[o++] = (uint8_t)(0x80 | (cp & 0x3f));
      }
      break;
    }
    default: dst[o++] = s[i]; /* " \ / */
    }
  }
  return o;
}

/* hangar__key_equals reports whether a key's body (between its quotes) equals the path
 * segment seg. */
static inline bool hangar__key_equals(const uint8_t *k, size_t kn, const char *seg, size_t sn) {
  if (kn == sn && memcmp(k, seg, sn) == 0) return true;
  if (!memchr(k, '\\', kn)) return false;
  uint8_t *tmp = (uint8_t *)malloc(kn ? kn : 1);
  if (!tmp) return false;
  size_t dn = hangar__unescape(k, kn, tmp);
  bool eq = dn == sn && memcmp(tmp, seg, sn) == 0;
  free(tmp);
  return eq;
}

/* hangar__find_key returns the index of the value of key seg in the object at b[i], or NPOS. */
static inline size_t hangar__find_key(const uint8_t *b, size_t n, size_t i, const char *seg, size_t sn) {
  if (i >= n || b[i] != '{') return HANGAR__NPOS;
  i = hangar__skip_space(b, n, i + 1);
  while (i < n && b[i] != '}') {
    if (b[i] != '"') return HANGAR__NPOS;
    size_t ks = i + 1, ke = hangar__skip_string(b, n, i);
    if (ke == HANGAR__NPOS) return ke;
    i = hangar__skip_space(b, n, ke);
    if (i >= n || b[i] != ':') return HANGAR__NPOS;
    i = hangar__skip_space(b, n, i + 1);
    size_t end = hangar__skip_value(b, n, i);
    if (end == HANGAR__NPOS) return end;
    if (hangar__key_equals(b + ks, ke - 1 - ks, seg, sn)) return i;
    i = hangar__skip_space(b, n, end);
    if (i < n && b[i] == ',') i = hangar__skip_space(b, n, i + 1);
  }
  return HANGAR__NPOS;
}

/* hangar__find returns the index of the value at a dotted path of the record, or NPOS. */
static inline size_t hangar__find(const hangar_record *rec, const char *path) {
  const uint8_t *b = rec->json;
  size_t n = rec->len, i = hangar__skip_space(b, n, 0);
  for (;;) {
    const char *dot = strchr(path, '.');
    size_t sn = dot ? (size_t)(dot - path) : strlen(path);
    i = hangar__find_key(b, n, i, path, sn);
    if (i == HANGAR__NPOS || !dot) return i;
    path = dot + 1;
  }
}

/* hangar_has reports whether the path holds a value (null included). */
static inline bool hangar_has(const hangar_record *rec, const char *path) {
  return hangar__find(rec, path) != HANGAR__NPOS;
}

/* hangar_get_raw sets *out to the JSON text of the value at path, and reports whether there is
 * one. */
static inline bool hangar_get_raw(const hangar_record *rec, const char *path, hangar_str *out) {
  size_t i = hangar__find(rec, path);
  if (i == HANGAR__NPOS) return false;
  size_t end = hangar__skip_value(rec->json, rec->len, i);
  if (end == HANGAR__NPOS) return false;
  *out = (hangar_str){(const char *)rec->json + i, end - i};
  return true;
}

/* hangar_get_string sets *out to the string at path, escapes decoded, and reports whether there
 * is one (false for a value of another type). It is valid until the handler returns. */
static inline bool hangar_get_string(hangar_record *rec, const char *path, hangar_str *out) {
  hangar_str raw;
  if (!hangar_get_raw(rec, path, &raw) || raw.ptr[0] != '"' || raw.len < 2) return false;
  const uint8_t *body = (const uint8_t *)raw.ptr + 1;
  size_t n = raw.len - 2;
  if (!memchr(body, '\\', n)) {
    *out = (hangar_str){(const char *)body, n};
    return true;
  }
  uint8_t *dst = (uint8_t *)hangar_alloc(rec, n);
  if (!dst) return false;
  size_t dn = hangar__unescape(body, n, dst);
  if (dn == HANGAR__NPOS) return false;
  *out = (hangar_str){(const char *)dst, dn};
  return true;
}

/* hangar_is_withheld reports whether the value at path is "<withheld>": the host withheld a
 * read:payload field's value that is not metadata by type. Treat it as missing. */
static inline bool hangar_is_withheld(hangar_record *rec, const char *path) {
  hangar_str s;
  return hangar_get_string(rec, path, &s) && hangar_str_eq(s, HANGAR_LIT("<withheld>"));
}

/* hangar_get_int sets *out to the integer at path, exactly (all 64 bits), and reports whether
 * there is one (false for a fraction, an exponent, or an integer beyond 64 bits). */
static inline bool hangar_get_int(const hangar_record *rec, const char *path, int64_t *out) {
  hangar_str raw;
  if (!hangar_get_raw(rec, path, &raw)) return false;
  const char *s = raw.ptr;
  size_t n = raw.len, i = 0;
  bool neg = s[0] == '-';
  if (neg) i++;
  if (i >= n) return false;
  uint64_t v = 0, limit = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    uint64_t d = (uint64_t)(s[i] - '0');
    if (v > (limit - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return true;
}

/* hangar_get_number sets *out to the number at path (correctly rounded, as Go's strconv) and
 * reports whether there is one. */
static inline bool hangar_get_number(const hangar_record *rec, const char *path, double *out) {
  hangar_str raw;
  if (!hangar_get_raw(rec, path, &raw) || raw.len >= 64) return false;
  char tmp[64];
  for (size_t i = 0; i < raw.len; i++) {
    char c = raw.ptr[i];
    if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) return false;
    tmp[i] = c;
  }
  tmp[raw.len] = 0;
  char *end;
  double v = strtod(tmp, &end);
  if (end != tmp + raw.len) return false;
  *out = v;
  return true;
}

/* hangar_get_bool sets *out to the boolean at path and reports whether there is one. */
static inline bool hangar_get_bool(const hangar_record *rec, const char *path, bool *out) {
  hangar_str raw;
  if (!hangar_get_raw(rec, path, &raw)) return false;
  if (hangar_str_eq(raw, HANGAR_LIT("true"))) *out = true;
  else if (hangar_str_eq(raw, HANGAR_LIT("false"))) *out = false;
  else return false;
  return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Host functions */

/* hangar_log writes a line to the agent's log under the plugin's name (capability "log"). */
static inline void hangar_log(int level, hangar_str msg) {
  hangar__log((uint64_t)level, hangar__extism_store(msg.ptr, msg.len));
}

/* hangar_kv_read copies the value under key in the plugin's own keyspace (capability "kv") to
 * dst if it fits in cap bytes, and returns its length either way, or -1 if there is none. */
static inline int32_t hangar_kv_read(hangar_str key, void *dst, uint32_t cap) {
  return hangar__kv_read(key.ptr, (uint32_t)key.len, dst, cap);
}

/* hangar_kv_get sets *value to the value under key (valid until the handler returns) and reports
 * whether there is one (capability "kv"). */
static inline bool hangar_kv_get(hangar_record *rec, hangar_str key, hangar_str *value) {
  uint8_t small[256];
  int32_t n = hangar_kv_read(key, small, sizeof small);
  while (n >= 0) {
    char *p = (char *)hangar_alloc(rec, (size_t)n + 1);
    if (!p) return false;
    if ((size_t)n <= sizeof small) {
      memcpy(p, small, (size_t)n);
      *value = (hangar_str){p, (size_t)n};
      return true;
    }
    int32_t m = hangar_kv_read(key, p, (uint32_t)n);
    if (m >= 0 && m <= n) {
      *value = (hangar_str){p, (size_t)m};
      return true;
    }
    n = m; /* it changed in between */
  }
  return false;
}

/* hangar_kv_set stores a value under key in the plugin's own keyspace (capability "kv"); keys at
 * most 256 bytes, values at most 64 KiB; an empty value deletes the key. */
static inline void hangar_kv_set(hangar_str key, hangar_str value) {
  hangar__kv_write(key.ptr, (uint32_t)key.len, value.ptr, (uint32_t)value.len);
}

/* ------------------------------------------------------------------------------------------ */
/* The batch ABI */

typedef struct {
  const uint8_t *b;
  size_t n, off;
  hangar__buf *err;
} hangar__reader;

static inline void hangar__reader_fail(hangar__reader *r, const char *msg) {
  if (r->err->len) return;
  hangar__put(r->err, "malformed batch at byte ", 24);
  hangar__decimal(r->err, r->off);
  hangar__put(r->err, ": ", 2);
  hangar__put(r->err, msg, strlen(msg));
}

static inline uint64_t hangar__reader_uvarint(hangar__reader *r) {
  uint64_t v = 0;
  for (int i = 0; i < 10; i++) {
    if (r->off >= r->n) {
      hangar__reader_fail(r, "truncated uvarint");
      return 0;
    }
    uint8_t c = r->b[r->off++];
    if (i == 9 && c > 1) {
      hangar__reader_fail(r, "uvarint overflows 64 bits");
      return 0;
    }
    v |= (uint64_t)(c & 0x7f) << (7 * i);
    if (c < 0x80) return v;
  }
  return 0; /* unreachable: the tenth byte is at most 1 */
}

/* hangar__reader_count reads a count or length bounded by the bytes left. */
static inline size_t hangar__reader_count(hangar__reader *r) {
  uint64_t v = hangar__reader_uvarint(r);
  if (!r->err->len && v > r->n - r->off) {
    hangar__reader_fail(r, "count exceeds input");
    return 0;
  }
  return (size_t)v;
}

/* hangar__fail_call sets Extism's error to msg and returns 1, which fails the whole call. */
static inline int32_t hangar__fail_call(const void *msg, size_t n) {
  hangar__extism_error_set(hangar__extism_store(msg, n));
  return 1;
}

/* hangar_run runs fn over the call's batch and sets the output, one result per record: the body
 * of an export. It returns 0, or 1 with Extism's error set if the batch is malformed or memory
 * ran out (the whole call fails). */
static inline int32_t hangar_run(hangar_handler fn) {
  static hangar__buf out, err;
  static hangar_record rec;
  out.len = err.len = 0;
  out.oom = err.oom = false;
  uint64_t n = hangar__extism_input_length();
  if (n > UINT32_MAX) return hangar__fail_call("input too large", 15);
  uint8_t *in = (uint8_t *)malloc(n ? (size_t)n : 1);
  if (!in) return hangar__fail_call("out of memory", 13);
  if (n) hangar__input_read(in, (uint32_t)n);
  hangar__reader r = {in, (size_t)n, 0, &err};
  uint8_t version = 0;
  if (r.n == 0) hangar__reader_fail(&r, "truncated");
  else version = in[r.off++];
  if (!err.len && version != 1) {
    hangar__put(&err, "malformed batch: version ", 25);
    hangar__decimal(&err, version);
    hangar__put(&err, ", want 1", 8);
  }
  size_t count = hangar__reader_count(&r);
  hangar__byte(&out, 1);
  hangar__uvarint(&out, count);
  for (size_t i = 0; i < count && !err.len; i++) {
    size_t len = hangar__reader_count(&r);
    if (err.len) break;
    rec.json = in + r.off;
    rec.len = len;
    rec.index = i;
    rec.events.len = rec.error.len = 0;
    rec.events.oom = rec.error.oom = false;
    rec.nevents = 0;
    rec.failed = false;
    r.off += len;
    fn(&rec);
    hangar__event_end();
    while (rec.scratch) {
      hangar__scratch *next = rec.scratch->next;
      free(rec.scratch);
      rec.scratch = next;
    }
    if (rec.events.oom || rec.error.oom) out.oom = true;
    if (rec.failed) {
      hangar__byte(&out, 1);
      hangar__string(&out, rec.error.ptr, rec.error.len);
    } else {
      hangar__byte(&out, 0);
      hangar__uvarint(&out, rec.nevents);
      hangar__put(&out, rec.events.ptr, rec.events.len);
    }
  }
  if (!err.len && r.off != r.n) hangar__reader_fail(&r, "trailing bytes");
  free(in);
  if (err.oom) return hangar__fail_call("out of memory", 13);
  if (err.len) return hangar__fail_call(err.ptr, err.len);
  if (out.oom) return hangar__fail_call("out of memory", 13);
  hangar__output_write(out.ptr, (uint32_t)out.len);
  return 0;
}

#endif /* HANGAR_H */
