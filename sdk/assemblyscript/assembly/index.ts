// Hangar's AssemblyScript SDK: the batch ABI v1 (sdk/abi in the Go module), the sdk.Event binary
// encoding v1 (sdk/encoding.go) and Hangar's host functions, on top of @extism/as-pdk.
//
// A capture plugin is one function from a record to events:
//
//   import { Event, Record, handleCapture } from "@hangar-dev/as-sdk";
//   export { capture } from "@hangar-dev/as-sdk";
//
//   handleCapture((rec: Record): Event[] => {
//     const name = rec.getString("hook_event_name");
//     if (name == null) { rec.fail("no hook_event_name"); return []; }
//     return [new Event("hook." + name!)];
//   });
//
// built with
//
//   asc assembly/index.ts --outFile plugin.wasm --optimize --runtime incremental \
//     --use abort=~lib/@hangar-dev/as-sdk/assembly/index/hangarAbort
//
// The byte layouts are documented in docs/PLUGINS.md; this file must stay byte-compatible with
// the Go encoders (a Go test in this folder runs the example plugin against them).

import { Host, Memory } from "@extism/as-pdk";
import { error_set, free, length } from "@extism/as-pdk/lib/env";

/** ABI_VERSION is the batch ABI version this SDK speaks (abi.Version). */
export const ABI_VERSION: u8 = 1;
/** ENCODING_VERSION is the event encoding version (sdk.EncodingVersion). */
export const ENCODING_VERSION: u8 = 1;
/** MAX_IDENT_LEN is the longest identifier the host accepts (sdk.MaxIdentLen). */
export const MAX_IDENT_LEN: i32 = 128;
/** MAX_HASH_LEN is the longest hash attribute the host accepts (sdk.MaxHashLen). */
export const MAX_HASH_LEN: i32 = 32;
/** MAX_ATTRS is the most attributes one event may have (sdk.MaxAttrs). */
export const MAX_ATTRS: i32 = 64;
/** ZERO_TIME is the encoding of "no time" (Go's zero time.Time): the host fills in the time. */
export const ZERO_TIME: i64 = i64.MIN_VALUE;
/**
 * WITHHELD stands in, in a record, for a value of a read:payload field that is not metadata by
 * type (abi.Withheld): the host passes numbers, flags, null and identifiers (at most 64 bytes of
 * ASCII letters, digits and . _ - : +) and withholds anything else (text, paths, commands). A
 * plugin that needs the text asks for content:<path>.
 */
export const WITHHELD: string = "<withheld>";

// ---------------------------------------------------------------------------------------------
// Bytes

/** Writer is a growable byte buffer with the ABI's primitive encoders. */
export class Writer {
  private buf: Uint8Array = new Uint8Array(256);
  private n: i32 = 0;

  get length(): i32 {
    return this.n;
  }

  private grow(extra: i32): void {
    if (this.n + extra <= this.buf.length) return;
    let size = this.buf.length << 1;
    while (size < this.n + extra) size <<= 1;
    const nb = new Uint8Array(size);
    memory.copy(nb.dataStart, this.buf.dataStart, <usize>this.n);
    this.buf = nb;
  }

  byte(b: u8): void {
    this.grow(1);
    this.buf[this.n++] = b;
  }

  /** uvarint appends v as Go's binary.AppendUvarint does. */
  uvarint(v: u64): void {
    this.grow(10);
    while (v >= 0x80) {
      this.buf[this.n++] = <u8>(v | 0x80);
      v >>= 7;
    }
    this.buf[this.n++] = <u8>v;
  }

  /** varint appends v zigzag-encoded, as Go's binary.AppendVarint does. */
  varint(v: i64): void {
    this.uvarint(<u64>((v << 1) ^ (v >> 63)));
  }

  /** u64le appends v as 8 little-endian bytes. */
  u64le(v: u64): void {
    this.grow(8);
    store<u64>(this.buf.dataStart + <usize>this.n, v);
    this.n += 8;
  }

  raw(p: Uint8Array): void {
    this.grow(p.length);
    memory.copy(this.buf.dataStart + <usize>this.n, p.dataStart, <usize>p.length);
    this.n += p.length;
  }

  /** bytes appends a uvarint length and the bytes. */
  bytes(p: Uint8Array): void {
    this.uvarint(<u64>p.length);
    this.raw(p);
  }

  /** string appends a uvarint length and the string's UTF-8 bytes. */
  string(s: string): void {
    this.bytes(Uint8Array.wrap(String.UTF8.encode(s)));
  }

  /** finish returns the written bytes (a copy of exactly that length). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

/** Reader decodes the ABI's primitives from bytes, remembering the first error. */
export class Reader {
  off: i32 = 0;
  err: string | null = null;

  constructor(public buf: Uint8Array) {}

  fail(msg: string): void {
    if (this.err == null) this.err = "malformed batch at byte " + this.off.toString() + ": " + msg;
  }

  byte(): u8 {
    if (this.err != null) return 0;
    if (this.off >= this.buf.length) {
      this.fail("truncated");
      return 0;
    }
    return this.buf[this.off++];
  }

  uvarint(): u64 {
    let v: u64 = 0;
    let shift: u64 = 0;
    for (let i = 0; i < 10; i++) {
      if (this.err != null) return 0;
      if (this.off >= this.buf.length) {
        this.fail("truncated uvarint");
        return 0;
      }
      const b = this.buf[this.off++];
      if (i == 9 && b > 1) {
        this.fail("uvarint overflows 64 bits");
        return 0;
      }
      v |= (<u64>(b & 0x7f)) << shift;
      if (b < 0x80) return v;
      shift += 7;
    }
    this.fail("bad uvarint");
    return 0;
  }

  /** count reads a count bounded by the bytes left (every item takes at least one byte). */
  count(): i32 {
    const v = this.uvarint();
    if (this.err == null && v > <u64>(this.buf.length - this.off)) {
      this.fail("count " + v.toString() + " exceeds input");
      return 0;
    }
    return <i32>v;
  }

  /** bytes reads a uvarint length and that many bytes (a view into the buffer). */
  bytes(): Uint8Array {
    const n = this.count();
    if (this.err != null) return new Uint8Array(0);
    const p = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return p;
  }
}

// ---------------------------------------------------------------------------------------------
// Events (sdk.Event, binary encoding v1)

/** The kinds of attribute value (sdk.ValueKind). */
export enum ValueKind {
  Invalid = 0,
  Int = 1,
  Float = 2,
  Bool = 3,
  Ident = 4,
  Hash = 5,
}

/** Attr is one typed attribute of an event. */
export class Attr {
  num: u64 = 0;
  str: Uint8Array = new Uint8Array(0);

  constructor(public key: string, public kind: ValueKind) {}
}

/**
 * Event is one privacy-safe fact, as sdk.Event. The host assigns the id and the platform (a
 * plugin's own are ignored) and, when timeNanos is ZERO_TIME, the time; it validates everything
 * else: identifiers are printable ASCII without spaces, at most MAX_IDENT_LEN bytes.
 */
export class Event {
  /** sessionId is the assistant's session id, or "". */
  sessionId: string = "";
  /** timeNanos is when it happened in Unix nanoseconds, or ZERO_TIME to let the host decide. */
  timeNanos: i64 = ZERO_TIME;
  attrs: Attr[] = [];

  /** kind names what happened, such as "hook.PreToolUse". */
  constructor(public kind: string) {}

  /** session sets the session id and returns the event. */
  session(id: string): Event {
    this.sessionId = id;
    return this;
  }

  /** at sets the time (Unix nanoseconds) and returns the event. */
  at(unixNanos: i64): Event {
    this.timeNanos = unixNanos;
    return this;
  }

  /** int adds an integer attribute: counts, sizes, durations in milliseconds, exit codes. */
  int(key: string, v: i64): Event {
    const a = new Attr(key, ValueKind.Int);
    a.num = <u64>v;
    this.attrs.push(a);
    return this;
  }

  /** float adds a float attribute: costs, ratios. It must be finite. */
  float(key: string, v: f64): Event {
    const a = new Attr(key, ValueKind.Float);
    a.num = reinterpret<u64>(v);
    this.attrs.push(a);
    return this;
  }

  /** bool adds a flag. */
  bool(key: string, v: bool): Event {
    const a = new Attr(key, ValueKind.Bool);
    a.num = v ? 1 : 0;
    this.attrs.push(a);
    return this;
  }

  /** ident adds a short identifier: a tool name, a model, a file extension. */
  ident(key: string, v: string): Event {
    const a = new Attr(key, ValueKind.Ident);
    a.str = Uint8Array.wrap(String.UTF8.encode(v));
    this.attrs.push(a);
    return this;
  }

  /** hash adds an opaque hash of 1 to MAX_HASH_LEN bytes. */
  hash(key: string, v: Uint8Array): Event {
    const a = new Attr(key, ValueKind.Hash);
    a.str = v.slice(0);
    this.attrs.push(a);
    return this;
  }

  /** encode appends the event's binary encoding v1, as sdk.Event.AppendBinary does. */
  encode(w: Writer): void {
    w.byte(ENCODING_VERSION);
    for (let i = 0; i < 16; i++) w.byte(0); // id: the host assigns it
    w.string(""); // platform: the host assigns it
    w.string(this.kind);
    w.string(this.sessionId);
    w.varint(this.timeNanos);
    w.varint(ZERO_TIME); // ingest time: the store sets it
    w.uvarint(<u64>this.attrs.length);
    for (let i = 0; i < this.attrs.length; i++) {
      const a = this.attrs[i];
      w.string(a.key);
      w.byte(<u8>a.kind);
      switch (a.kind) {
        case ValueKind.Int:
          w.varint(<i64>a.num);
          break;
        case ValueKind.Float:
          w.u64le(a.num);
          break;
        case ValueKind.Bool:
          w.byte(<u8>a.num);
          break;
        default:
          w.bytes(a.str);
      }
    }
  }

  /** toBytes returns the event's binary encoding v1. */
  toBytes(): Uint8Array {
    const w = new Writer();
    this.encode(w);
    return w.finish();
  }
}

// ---------------------------------------------------------------------------------------------
// Records and a minimal JSON reader

/**
 * Record is one input record: a JSON object holding exactly the fields the plugin was granted.
 * Paths are names separated by dots ("tool_input.file_path"), as in the manifest's grants. The
 * values of read:payload fields that are not metadata by type are WITHHELD (isWithheld).
 */
export class Record {
  /** error, if set by fail, fails this record only. */
  error: string | null = null;

  constructor(public json: Uint8Array) {}

  /** text returns the record's JSON as a string. */
  text(): string {
    return String.UTF8.decode(this.json.buffer.slice(this.json.byteOffset, this.json.byteOffset + this.json.length));
  }

  /** fail marks this record failed with a message; the host sends it to the dead-letter queue. */
  fail(msg: string): void {
    this.error = msg;
  }

  /** has reports whether the path holds a value (null included). */
  has(path: string): bool {
    return findPath(this.json, path) >= 0;
  }

  /** isWithheld reports whether the value at path is WITHHELD: there, but not shown. */
  isWithheld(path: string): bool {
    const s = this.getString(path);
    if (s == null) return false;
    return s == WITHHELD;
  }

  /** getString returns the string at path, or null if there is none or it is not a string. */
  getString(path: string): string | null {
    return stringAt(this.json, findPath(this.json, path));
  }

  /** getNumber returns the number at path, or NaN if there is none or it is not a number. */
  getNumber(path: string): f64 {
    return numberAt(this.json, findPath(this.json, path));
  }

  /**
   * getInt returns the integer at path exactly (all 64 bits), or 0 if there is none or it is not
   * an integer.
   */
  getInt(path: string): i64 {
    return intAt(this.json, findPath(this.json, path));
  }

  /** getBool returns the boolean at path, or false if there is none or it is not a boolean. */
  getBool(path: string): bool {
    const i = findPath(this.json, path);
    return i >= 0 && this.json[i] == 0x74; // 't'
  }

  /** getRaw returns the JSON text of the value at path, or null. */
  getRaw(path: string): string | null {
    return rawAt(this.json, findPath(this.json, path));
  }

  // Attributes by key. An enrich plugin's records are stored events, an insight plugin's derived
  // records, both as sdk.Event.MarshalJSON writes them: their attributes are an array
  // "attrs": [{"key": "tool_name", "type": "ident", "value": "Bash"}, ...], which these read by
  // key, as the Go SDK's rec.Get(`attrs.#(key=="tool_name").value`) does.

  /** hasAttr reports whether the record has an attribute key. */
  hasAttr(key: string): bool {
    return findAttr(this.json, key, false) >= 0;
  }

  /** attrType returns the type of attribute key ("int", "float", "bool", "ident", "hash", "sketch"), or null. */
  attrType(key: string): string | null {
    return stringAt(this.json, findAttr(this.json, key, true));
  }

  /**
   * attrIdent returns the value of an ident attribute key (a tool name, a model, a session id, a
   * derived record's key), or null if there is none or it is not a string. A hash attribute's
   * value is its hex, which this returns too.
   */
  attrIdent(key: string): string | null {
    return stringAt(this.json, findAttr(this.json, key, false));
  }

  /** attrInt returns the value of an int attribute exactly (all 64 bits), or 0 if there is none. */
  attrInt(key: string): i64 {
    return intAt(this.json, findAttr(this.json, key, false));
  }

  /** attrFloat returns the value of a float (or int) attribute, or NaN if there is none. */
  attrFloat(key: string): f64 {
    return numberAt(this.json, findAttr(this.json, key, false));
  }

  /** attrBool returns the value of a bool attribute, or false if there is none. */
  attrBool(key: string): bool {
    const i = findAttr(this.json, key, false);
    return i >= 0 && this.json[i] == 0x74; // 't'
  }

  /** attrRaw returns the JSON text of an attribute's value (a sketch's {"i":[...],"v":[...]}), or null. */
  attrRaw(key: string): string | null {
    return rawAt(this.json, findAttr(this.json, key, false));
  }
}

/** stringAt returns the JSON string starting at b[i], or null if there is none. */
function stringAt(b: Uint8Array, i: i32): string | null {
  if (i < 0 || b[i] != 0x22) return null;
  return decodeString(b, i);
}

/** numberAt returns the JSON number starting at b[i], or NaN if there is none. */
function numberAt(b: Uint8Array, i: i32): f64 {
  if (i < 0) return NaN;
  const c = b[i];
  if (c != 0x2d && (c < 0x30 || c > 0x39)) return NaN;
  const end = skipValue(b, i);
  if (end < 0) return NaN;
  return parseFloat(String.UTF8.decodeUnsafe(b.dataStart + <usize>i, <usize>(end - i)));
}

/** intAt returns the JSON integer starting at b[i] exactly, or 0 if there is none. */
function intAt(b: Uint8Array, i: i32): i64 {
  if (i < 0) return 0;
  const end = skipValue(b, i);
  let neg = false;
  if (i < end && b[i] == 0x2d) {
    neg = true;
    i++;
  }
  if (i >= end) return 0;
  let v: u64 = 0;
  for (; i < end; i++) {
    const c = b[i];
    if (c < 0x30 || c > 0x39) return 0;
    v = v * 10 + <u64>(c - 0x30);
  }
  return neg ? -(<i64>v) : <i64>v;
}

/** rawAt returns the JSON text of the value starting at b[i], or null. */
function rawAt(b: Uint8Array, i: i32): string | null {
  if (i < 0) return null;
  const end = skipValue(b, i);
  if (end < 0) return null;
  return String.UTF8.decodeUnsafe(b.dataStart + <usize>i, <usize>(end - i));
}

const ATTRS_KEY = Uint8Array.wrap(String.UTF8.encode("attrs"));
const KEY_KEY = Uint8Array.wrap(String.UTF8.encode("key"));
const VALUE_KEY = Uint8Array.wrap(String.UTF8.encode("value"));
const TYPE_KEY = Uint8Array.wrap(String.UTF8.encode("type"));

/**
 * findAttr returns the index of the value (or, with wantType, the type) of the element of the
 * record's "attrs" array whose "key" is key, or -1.
 */
function findAttr(b: Uint8Array, key: string, wantType: bool): i32 {
  let i = findKey(b, skipSpace(b, 0), ATTRS_KEY);
  if (i < 0 || b[i] != 0x5b) return -1;
  const want = Uint8Array.wrap(String.UTF8.encode(key));
  i = skipSpace(b, i + 1);
  while (i < b.length && b[i] != 0x5d) {
    const k = findKey(b, i, KEY_KEY);
    if (k >= 0 && b[k] == 0x22) {
      const ke = skipString(b, k);
      if (ke >= 0 && keyEquals(b, k + 1, ke - 1, want)) return findKey(b, i, wantType ? TYPE_KEY : VALUE_KEY);
    }
    i = skipValue(b, i);
    if (i < 0) return -1;
    i = skipSpace(b, i);
    if (i < b.length && b[i] == 0x2c) i = skipSpace(b, i + 1);
    else break;
  }
  return -1;
}

function isSpace(c: u8): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d;
}

function skipSpace(b: Uint8Array, i: i32): i32 {
  while (i < b.length && isSpace(b[i])) i++;
  return i;
}

/** skipString returns the index after the string starting at b[i] == '"', or -1. */
function skipString(b: Uint8Array, i: i32): i32 {
  i++;
  while (i < b.length) {
    const c = b[i];
    if (c == 0x5c) {
      i += 2;
      continue;
    }
    if (c == 0x22) return i + 1;
    i++;
  }
  return -1;
}

/** skipValue returns the index after the JSON value starting at b[i], or -1. */
function skipValue(b: Uint8Array, i: i32): i32 {
  if (i >= b.length) return -1;
  const c = b[i];
  if (c == 0x22) return skipString(b, i);
  if (c == 0x7b || c == 0x5b) {
    let depth = 0;
    while (i < b.length) {
      const d = b[i];
      if (d == 0x22) {
        i = skipString(b, i);
        if (i < 0) return -1;
        continue;
      }
      if (d == 0x7b || d == 0x5b) depth++;
      else if (d == 0x7d || d == 0x5d) {
        depth--;
        if (depth == 0) return i + 1;
      }
      i++;
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter.
  while (i < b.length) {
    const d = b[i];
    if (d == 0x2c || d == 0x7d || d == 0x5d || isSpace(d)) break;
    i++;
  }
  return i;
}

/** keyEquals reports whether the JSON string at b[start..end) (quotes excluded) equals key. */
function keyEquals(b: Uint8Array, start: i32, end: i32, key: Uint8Array): bool {
  if (end - start == key.length) {
    for (let j = 0; j < key.length; j++) if (b[start + j] != key[j]) return false;
    return true;
  }
  // A key with escapes: compare decoded.
  for (let j = start; j < end; j++) {
    if (b[j] == 0x5c) {
      return decodeString(b, start - 1) == String.UTF8.decode(key.buffer.slice(key.byteOffset, key.byteOffset + key.length));
    }
  }
  return false;
}

/** findKey returns the index of the value of key in the object starting at b[i] == '{', or -1. */
function findKey(b: Uint8Array, i: i32, key: Uint8Array): i32 {
  if (i < 0 || i >= b.length || b[i] != 0x7b) return -1;
  i = skipSpace(b, i + 1);
  while (i < b.length && b[i] != 0x7d) {
    if (b[i] != 0x22) return -1;
    const ks = i + 1;
    const ke = skipString(b, i);
    if (ke < 0) return -1;
    i = skipSpace(b, ke);
    if (i >= b.length || b[i] != 0x3a) return -1;
    i = skipSpace(b, i + 1);
    if (keyEquals(b, ks, ke - 1, key)) return i;
    i = skipValue(b, i);
    if (i < 0) return -1;
    i = skipSpace(b, i);
    if (i < b.length && b[i] == 0x2c) i = skipSpace(b, i + 1);
  }
  return -1;
}

/** findPath returns the index of the value at a dotted path of the object in b, or -1. */
function findPath(b: Uint8Array, path: string): i32 {
  let i = skipSpace(b, 0);
  const parts = path.split(".");
  for (let p = 0; p < parts.length; p++) {
    i = findKey(b, i, Uint8Array.wrap(String.UTF8.encode(parts[p])));
    if (i < 0) return -1;
  }
  return i;
}

function hexVal(c: u8): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** decodeString decodes the JSON string starting at b[i] == '"', escapes included. */
function decodeString(b: Uint8Array, i: i32): string | null {
  const end = skipString(b, i);
  if (end < 0) return null;
  const start = i + 1;
  const stop = end - 1;
  let plain = true;
  for (let j = start; j < stop; j++) {
    if (b[j] == 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return String.UTF8.decodeUnsafe(b.dataStart + <usize>start, <usize>(stop - start));
  // Unescape into UTF-8 bytes, then decode once.
  const w = new Writer();
  for (let j = start; j < stop; j++) {
    const c = b[j];
    if (c != 0x5c) {
      w.byte(c);
      continue;
    }
    j++;
    const e = b[j];
    switch (e) {
      case 0x6e: w.byte(0x0a); break; // n
      case 0x74: w.byte(0x09); break; // t
      case 0x72: w.byte(0x0d); break; // r
      case 0x62: w.byte(0x08); break; // b
      case 0x66: w.byte(0x0c); break; // f
      case 0x75: { // uXXXX, with surrogate pairs
        if (j + 4 >= stop + 1) return null;
        let cp: i32 = 0;
        for (let k = 1; k <= 4; k++) {
          const h = hexVal(b[j + k]);
          if (h < 0) return null;
          cp = (cp << 4) | h;
        }
        j += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && j + 6 < stop + 1 && b[j + 1] == 0x5c && b[j + 2] == 0x75) {
          let lo: i32 = 0;
          let ok = true;
          for (let k = 3; k <= 6; k++) {
            const h = hexVal(b[j + k]);
            if (h < 0) ok = false;
            lo = (lo << 4) | h;
          }
          if (ok && lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            j += 6;
          }
        }
        appendUTF8(w, cp);
        break;
      }
      default: w.byte(e); // " \ /
    }
  }
  const out = w.finish();
  return String.UTF8.decode(out.buffer);
}

function appendUTF8(w: Writer, cp: i32): void {
  if (cp < 0x80) {
    w.byte(<u8>cp);
  } else if (cp < 0x800) {
    w.byte(<u8>(0xc0 | (cp >> 6)));
    w.byte(<u8>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    w.byte(<u8>(0xe0 | (cp >> 12)));
    w.byte(<u8>(0x80 | ((cp >> 6) & 0x3f)));
    w.byte(<u8>(0x80 | (cp & 0x3f)));
  } else {
    w.byte(<u8>(0xf0 | (cp >> 18)));
    w.byte(<u8>(0x80 | ((cp >> 12) & 0x3f)));
    w.byte(<u8>(0x80 | ((cp >> 6) & 0x3f)));
    w.byte(<u8>(0x80 | (cp & 0x3f)));
  }
}

// ---------------------------------------------------------------------------------------------
// The batch ABI v1 and the exports

/** Handler turns one record into events; rec.fail(msg) fails that record only. */
export type Handler = (rec: Record) => Event[];

let captureHandler: Handler | null = null;
let enrichHandler: Handler | null = null;
let insightHandler: Handler | null = null;

/** handleCapture makes fn the plugin's capture function (kind "capture"). Call it at top level. */
export function handleCapture(fn: Handler): void {
  captureHandler = fn;
}

/** handleEnrich makes fn the plugin's enrich function (kind "enrich"). */
export function handleEnrich(fn: Handler): void {
  enrichHandler = fn;
}

/** handleInsight makes fn the plugin's insight function (kind "insight"). */
export function handleInsight(fn: Handler): void {
  insightHandler = fn;
}

/**
 * processBatch runs fn over a batch input (abi.AppendInput's bytes) and returns the output
 * (abi.AppendOutput's bytes), or null with the error in err[0] if the input is malformed.
 */
export function processBatch(fn: Handler, input: Uint8Array, err: string[]): Uint8Array | null {
  const r = new Reader(input);
  const v = r.byte();
  if (r.err == null && v != ABI_VERSION) {
    err.push("malformed batch: version " + v.toString() + ", want " + ABI_VERSION.toString());
    return null;
  }
  const n = r.count();
  const w = new Writer();
  w.byte(ABI_VERSION);
  w.uvarint(<u64>n);
  const ev = new Writer();
  for (let i = 0; i < n && r.err == null; i++) {
    const rec = r.bytes();
    if (r.err != null) break;
    const record = new Record(rec);
    const events = fn(record);
    if (record.error != null) {
      w.byte(1);
      w.string(record.error!);
      continue;
    }
    w.byte(0);
    w.uvarint(<u64>events.length);
    for (let j = 0; j < events.length; j++) {
      const e = new Writer();
      events[j].encode(e);
      w.bytes(e.finish());
    }
  }
  if (r.err == null && r.off != input.length) r.fail((input.length - r.off).toString() + " trailing bytes");
  if (r.err != null) {
    err.push(r.err!);
    return null;
  }
  return w.finish();
}

function setError(msg: string): void {
  error_set(Memory.allocateString(msg).offset);
}

function run(fn: Handler | null, name: string): i32 {
  if (fn == null) {
    setError("plugin has no " + name + " handler");
    return 1;
  }
  const err: string[] = [];
  const out = processBatch(fn, Host.input(), err);
  if (out == null) {
    setError(err[0]);
    return 1;
  }
  Host.output(out);
  return 0;
}

/** capture is the export the host calls for a capture plugin; re-export it from your entry file. */
export function capture(): i32 {
  return run(captureHandler, "capture");
}

/** enrich is the export the host calls for an enrich plugin; re-export it from your entry file. */
export function enrich(): i32 {
  return run(enrichHandler, "enrich");
}

/** insight is the export the host calls for an insight plugin; re-export it from your entry file. */
export function insight(): i32 {
  return run(insightHandler, "insight");
}

/**
 * hangarAbort replaces AssemblyScript's abort (which would import env.abort, which the host does
 * not provide): it sets Extism's error and traps, failing the whole call. Build with
 * --use abort=~lib/@hangar-dev/as-sdk/assembly/index/hangarAbort (or your own).
 */
export function hangarAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let msg = "abort";
  if (message != null) msg += ": " + message;
  if (fileName != null) msg += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  setError(msg);
  unreachable();
}

// ---------------------------------------------------------------------------------------------
// Hangar's host functions (module "hangar"). Each checks the plugin's grants; calling one that was
// not granted fails the call. AssemblyScript imports only what a plugin uses.

@external("hangar", "log")
declare function hostLog(level: u64, msg: u64): void;

@external("hangar", "kv_get")
declare function hostKVGet(key: u64): u64;

@external("hangar", "kv_set")
declare function hostKVSet(key: u64, value: u64): void;

/** Log levels for log. */
export enum Level {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
}

/** log writes a line to the agent's log under the plugin's name (capability "log"). */
export function log(level: Level, msg: string): void {
  hostLog(<u64>level, Memory.allocateString(msg).offset);
}

/** kvGet returns the value under key in the plugin's own keyspace (capability "kv"), or null. */
export function kvGet(key: Uint8Array): Uint8Array | null {
  const off = hostKVGet(Memory.allocateBytes(key).offset);
  if (off == 0) return null;
  const m = new Memory(off, length(off));
  const v = m.toUint8Array();
  free(off);
  return v;
}

/** kvSet stores a value under key in the plugin's own keyspace (capability "kv"). */
export function kvSet(key: Uint8Array, value: Uint8Array): void {
  hostKVSet(Memory.allocateBytes(key).offset, Memory.allocateBytes(value).offset);
}
