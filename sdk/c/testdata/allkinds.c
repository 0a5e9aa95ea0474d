/*
 * A test plugin for the SDK's encoders and reader (c_test.go builds it): it turns each record's
 * fields into events with every kind of attribute, so that the test can compare the output byte
 * for byte with the Go encoders. As the AssemblyScript SDK's testdata/allkinds.ts:
 *
 *   {"fail": "msg"}                      fails the record
 *   {"count": n, "kind": k, "session": s, "t": nanos, "n": int, "f": float, "b": bool,
 *    "id": ident, "h": "hash bytes", "sk": any, "log": "line", "kv": "value", "w": any,
 *    "get": "a.dotted.path"}
 *
 * emits n events of kind k (default 1), each with the attributes whose fields are present ("sk":
 * a fixed sketch; "w": the bool attribute "withheld", whether the host withheld it; "get": the
 * string at that path as the ident "got", or "<none>").
 */
#include "../hangar.h"

static void handle(hangar_record *rec) {
  hangar_str s;
  if (hangar_get_string(rec, "fail", &s)) {
    hangar_fail(rec, s);
    return;
  }
  if (hangar_get_string(rec, "log", &s)) hangar_log(HANGAR_INFO, s);
  int64_t count = 1;
  if (hangar_has(rec, "count") && !hangar_get_int(rec, "count", &count)) {
    hangar_fail(rec, HANGAR_LIT("count is not an integer"));
    return;
  }
  for (int64_t i = 0; i < count; i++) {
    hangar_str kind = HANGAR_LIT("test");
    hangar_get_string(rec, "kind", &kind);
    hangar_event *ev = hangar_event_new(rec, kind);
    if (hangar_get_string(rec, "session", &s)) hangar_event_session(ev, s);
    int64_t n;
    if (hangar_get_int(rec, "t", &n)) hangar_event_time(ev, n);
    if (hangar_get_int(rec, "n", &n)) hangar_event_int(ev, "n", n);
    double f;
    if (hangar_get_number(rec, "f", &f)) hangar_event_float(ev, "f", f);
    bool b;
    if (hangar_get_bool(rec, "b", &b)) hangar_event_bool(ev, "b", b);
    if (hangar_get_string(rec, "id", &s)) hangar_event_ident(ev, "id", s);
    if (hangar_get_string(rec, "h", &s)) hangar_event_hash(ev, "h", s.ptr, s.len);
    if (hangar_has(rec, "sk")) {
      static const uint16_t idx[] = {0, 81, 4095};
      static const float val[] = {1.0f, -0.5f, 3.25f};
      hangar_event_sketch(ev, "sk", idx, val, 3);
    }
    if (hangar_get_string(rec, "kv", &s)) {
      hangar_kv_set(HANGAR_LIT("k"), s);
      hangar_str got;
      hangar_event_ident(ev, "kv", hangar_kv_get(rec, HANGAR_LIT("k"), &got) ? got : HANGAR_LIT("<none>"));
    }
    if (hangar_has(rec, "w")) hangar_event_bool(ev, "withheld", hangar_is_withheld(rec, "w"));
    hangar_str path;
    if (hangar_get_string(rec, "get", &path)) {
      /* path is not NUL-terminated: copy it. */
      char *p = (char *)hangar_concat(rec, path, HANGAR_LIT("")).ptr;
      hangar_event_ident(ev, "got", hangar_get_string(rec, p, &s) ? s : HANGAR_LIT("<none>"));
    }
  }
}

HANGAR_EXPORT("capture") int32_t capture(void) { return hangar_run(handle); }
