#!/usr/bin/env python3
"""Writes projects/-tmp-extraction/{a.jsonl,b.jsonl,a/subagents/agent-1.jsonl}: one line per rule of
how ccusage 20.0.24 reads Claude Code transcripts (the comment says what ccusage does with it).

The expected reports next to it are ccusage 20.0.24's, made with
    go test ./pipeline/pricing -run Golden -update -ccusage=/tmp/ccu/node_modules/.bin/ccusage
(CLAUDE_CONFIG_DIR=testdata/extraction ccusage claude daily|session --offline --json -z UTC).
"""
import json
import os

S = 'claude-sonnet-4-20250514'


def entry(model, day, inp=0, out=0, cc=0, cr=0, mid=None, rid=None, speed=None, cost=None, ts=None, extra=None,
          typ='assistant', sid='a'):
    u = {'input_tokens': inp, 'output_tokens': out, 'cache_creation_input_tokens': cc, 'cache_read_input_tokens': cr}
    if speed:
        u['speed'] = speed
    d = {'type': typ, 'timestamp': ts or f'{day}T12:00:00.000Z', 'sessionId': sid, 'version': '2.0.0',
         'requestId': rid or f'req_{day}_{model}', 'message': {'id': mid or f'msg_{day}_{model}', 'model': model, 'usage': u}}
    if cost is not None:
        d['costUSD'] = cost
    if extra:
        d.update(extra)
    return d


def dump(es):
    return '\n'.join(e if isinstance(e, str) else json.dumps(e, separators=(',', ':')) for e in es) + '\n'


A = []
A.append(entry(S, '2025-02-01', inp=1000, typ='user'))  # any line with "usage":{ counts
e = entry(S, '2025-02-02', inp=1000); del e['type']; A.append(e)  # no type at all: counts
A.append(entry(S, '2025-02-03', inp=1000, mid='m3', rid='r3'))  # tie on tokens: daily keeps the costlier,
A.append(entry(S, '2025-02-03', out=1000, mid='m3', rid='r3'))  # the other reports the first
A.append(entry(S, '2025-02-04', out=1, mid='m4', rid='r4'))  # streamed duplicate: the bigger one wins,
A.append(entry(S, '2025-02-05', out=500, mid='m4', rid='r4'))  # and moves to its own day
e = entry(S, '2025-02-06', out=100); del e['message']['id']; A.append(e); A.append(dict(e))  # no id: never deduplicated
e = entry(S, '2025-02-07', out=100, mid='m7', rid='r7'); A.append(e)
e2 = json.loads(json.dumps(e)); del e2['requestId']; e2['message']['usage']['output_tokens'] = 50; A.append(e2)  # no requestId: another key
e = entry(S, '2025-02-08', out=100); e['version'] = 'abc'; A.append(e)  # skipped: version not semver
e = entry(S, '2025-02-08', out=100, mid='v2'); e['version'] = '1.0'; A.append(e)  # skipped: version not x.y.z
A.append(entry('claude-opus-4-6', '2025-02-10', inp=1000, speed='fast'))  # fast: x6, reported as claude-opus-4-6-fast
A.append(entry(S, '2025-02-11', inp=1000, speed='turbo'))  # skipped: unknown speed
e = entry(S, '2025-02-12', out=100); del e['message']['usage']['input_tokens']; A.append(e)  # skipped: no input_tokens
e = entry(S, '2025-02-13', out=100); e['message']['usage']['output_tokens'] = 100.0; A.append(e)  # skipped: 100.0 is not a count
A.append(entry(S, 'x', out=100, ts='2025-02-14T23:30:00-05:00', mid='m14'))  # UTC day 2025-02-15
A.append(entry(S, '2025-02-16', out=100, cost=1.5))  # costUSD wins in auto mode
A.append(entry('<synthetic>', '2025-02-17', inp=100, mid='syn'))  # counted, no model row, cost 0
e = entry(S, '2025-02-18', out=100); e['cwd'] = None; A.append(e)  # skipped: cwd null
e = entry(S, '2025-02-18', out=100, mid='n2'); A.append(json.dumps(e, separators=(',', ':'))[:-1] + ',"cwd": null}')  # skipped: spaced null
e = entry(S, '2025-02-19', out=100); e['foo'] = None; A.append(e)  # kept: other nulls are fine
e = entry(S, '2025-02-20', out=100); del e['timestamp']; A.append(e)  # skipped: no timestamp
e = entry(S, '2025-02-21', inp=1000); del e['message']['model']; A.append(e)  # counted, no model row, cost 0
e = entry(S, '2025-02-22', inp=1000); e['message']['model'] = ''; A.append(e)  # skipped: empty model
A.append(entry(S, '2025-02-23', cr=20, out=10, mid='m23', rid='p', extra={'isSidechain': False}))  # sidechain replay with
A.append(entry(S, '2025-02-23', cr=50000, out=10, mid='m23', rid='q', extra={'isSidechain': True}))  # the same timestamp: dropped
A.append(entry(S, '2025-02-24', cr=20, out=10, mid='m24', rid='p', extra={'isSidechain': False}))  # sidechain replay 5 min
A.append(entry(S, 'x', cr=50000, out=10, mid='m24', rid='q', ts='2025-02-24T12:05:00.000Z',
               extra={'isSidechain': True}))  # later: only the daily report drops it
A.append(entry(S, 'x', out=100, ts='2025-02-25T12:00:00', mid='m25'))  # skipped: timestamp without zone
A.append(entry(S, 'x', out=100, ts='2025-02-25', mid='m25b'))  # skipped: date only
A.append('{"type":"assistant","timestamp":"2025-02-26T12:00:00.000Z","message":{"id":"my","model":"%s",'
         '"usage" : {"input_tokens":1000,"output_tokens":0}}}' % S)  # skipped: "usage" : { is not "usage":{
A.append(json.dumps({'type': 'progress', 'timestamp': '2025-02-27T12:00:00.000Z', 'data': {'message': {
    'type': 'assistant', 'timestamp': '2025-02-27T12:00:00.000Z', 'requestId': 'rp',
    'message': {'id': 'mp', 'model': S, 'usage': {'input_tokens': 1000, 'output_tokens': 0}}}}},
    separators=(',', ':')))  # subagent progress line: the daily report only
A.append(json.dumps({'type': 'assistant', 'timestamp': '2025-02-28T12:00:00.000Z', 'requestId': 'ra', 'message': {
    'id': 'ma', 'model': S, 'usage': {'input_tokens': 1000, 'output_tokens': 0, 'iterations': [
        {'type': 'advisor_message', 'model': 'claude-opus-4-1-20250805', 'input_tokens': 1000, 'output_tokens': 0,
         'cache_creation_input_tokens': 0, 'cache_read_input_tokens': 0}]}}},
    separators=(',', ':')))  # advisor iteration: an entry of its own, priced with its model
A.append(entry(S, '2025-03-05', out=10, mid='dup', rid='dup'))  # duplicated in b.jsonl on another day:
B = [entry(S, '2025-03-04', out=10, mid='dup', rid='dup', sid='b'),  # full tie, the first file by path wins
     entry(S, '2025-03-01', inp=7, sid='b')]
SUB = [entry(S, 'x', cr=777, out=3, mid='m23', rid='q2', ts='2025-02-23T12:00:00.000Z',
             extra={'isSidechain': True}),  # replay in subagents/ with the same timestamp: dropped
       entry(S, '2025-03-02', inp=11, out=11, mid='sub1', rid='sub1', extra={'isSidechain': True})]  # a sidechain's own answer

d = 'projects/-tmp-extraction'
os.makedirs(d + '/a/subagents', exist_ok=True)
for name, es in (('a.jsonl', A), ('b.jsonl', B), ('a/subagents/agent-1.jsonl', SUB)):
    with open(f'{d}/{name}', 'w') as f:
        f.write(dump(es))
