#!/usr/bin/env python3
"""Writes projects/-tmp-synthetic/synthetic.jsonl, a hand-made Claude Code transcript.

The expected reports next to it are ccusage 20.0.24's, made with
    go test ./pipeline/pricing -run Golden -update -ccusage=/tmp/ccu/node_modules/.bin/ccusage
(CLAUDE_CONFIG_DIR=testdata/synthetic ccusage claude daily|session --offline --json -z UTC).
"""
import json

S = 'synthetic-0001'
lines = []


def e(ts, model, usage, mid, rid, **kw):
    d = {'isSidechain': False, 'userType': 'external', 'cwd': '/tmp/synthetic', 'sessionId': S, 'version': '2.1.0',
         'type': 'assistant',
         'message': {'id': mid, 'type': 'message', 'role': 'assistant', 'model': model,
                     'content': [{'type': 'text', 'text': 'synthetic'}], 'stop_reason': 'end_turn', 'usage': usage},
         'requestId': rid, 'timestamp': ts}
    d.update(kw)
    lines.append(json.dumps(d, separators=(',', ':')))


def u(inp=0, out=0, cc=0, cr=0, c5=None, c1=None, **kw):
    x = {'input_tokens': inp, 'cache_creation_input_tokens': cc, 'cache_read_input_tokens': cr, 'output_tokens': out,
         'service_tier': 'standard'}
    if c5 is not None:
        x['cache_creation'] = {'ephemeral_5m_input_tokens': c5, 'ephemeral_1h_input_tokens': c1}
    x.update(kw)
    return x


lines.append(json.dumps({'type': 'user', 'sessionId': S, 'version': '2.1.0', 'timestamp': '2026-01-05T09:59:59.000Z',
                         'message': {'role': 'user', 'content': 'synthetic prompt'}}, separators=(',', ':')))
# 2026-01-05: LiteLLM marginal tiers of claude-sonnet-4-20250514, per class
e('2026-01-05T10:00:00.000Z', 'claude-sonnet-4-20250514', u(inp=250000, out=1200), 'msg_s1', 'req_s1')
e('2026-01-05T10:01:00.000Z', 'claude-sonnet-4-20250514', u(inp=3, out=1, cc=300000, cr=210000, c5=50000, c1=250000), 'msg_s2', 'req_s2')  # streamed partial
e('2026-01-05T10:01:05.000Z', 'claude-sonnet-4-20250514', u(inp=3, out=900, cc=300000, cr=210000, c5=50000, c1=250000), 'msg_s2', 'req_s2')  # 1h writes above 200k
e('2026-01-05T10:02:00.000Z', 'claude-sonnet-4-20250514', u(inp=200000, out=200001, cc=200000, cr=200001), 'msg_s3', 'req_s3')  # the boundary
e('2026-01-05T10:03:00.000Z', 'claude-sonnet-4-5-20250929', u(inp=10, out=500, cr=150000, c5=0, c1=260000), 'msg_s4', 'req_s4')
# 2026-01-06: fast speed, no tiers, flat cache writes, costUSD, synthetic, sidechain replay
e('2026-01-06T08:00:00.000Z', 'claude-opus-4-6', u(inp=1000, out=2000, cc=10000, c5=0, c1=10000, speed='fast'), 'msg_f1', 'req_f1')
e('2026-01-06T08:05:00.000Z', 'claude-opus-4-8', u(inp=1000, out=2000, speed='fast'), 'msg_f2', 'req_f2')
e('2026-01-06T08:10:00.000Z', 'claude-opus-4-1-20250805', u(inp=300000, out=300000, cc=300000, cr=300000), 'msg_o1', 'req_o1')
e('2026-01-06T08:11:00.000Z', 'claude-opus-4-1-20250805', u(inp=300000, out=300000, cc=300000, cr=999999), 'msg_o1', 'req_sidechain_replay', isSidechain=True)
e('2026-01-06T08:20:00.000Z', 'claude-haiku-4-5-20251001', u(inp=50, out=70, cc=1000, cr=2000), 'msg_h1', 'req_h1')
e('2026-01-06T08:30:00.000Z', 'claude-sonnet-4-20250514', u(inp=100, out=100), 'msg_c1', 'req_c1', costUSD=0.5)
e('2026-01-06T08:40:00.000Z', '<synthetic>', u(), 'msg_syn', 'req_syn')
# 2026-01-08 (UTC) written with a -01:00 offset on 2026-01-07
e('2026-01-07T23:59:59.999-01:00', 'claude-opus-4-6-think', u(inp=100, out=10, cr=250000), 'msg_m1', 'req_m1')
e('2026-01-08T01:00:00.000Z', 'claude-3-5-haiku-20241022', u(inp=1000, out=1000, cc=1000, cr=1000), 'msg_b1', 'req_b1')
e('2026-01-08T02:00:00.000Z', 'claude-unknown-model-1', u(inp=1000, out=1000), 'msg_x1', 'req_x1')
e('2026-01-08T03:00:00.000Z', 'claude-sonnet-4@20250514', u(inp=210000, out=10, iterations=[
    {'type': 'advisor_message', 'model': 'claude-opus-4-1-20250805', 'input_tokens': 2000, 'output_tokens': 300,
     'cache_creation_input_tokens': 0, 'cache_read_input_tokens': 500}]), 'msg_a1', 'req_a1')
e('2026-01-08T04:00:00.000Z', 'us.anthropic.claude-sonnet-4-20250514-v1:0', u(inp=1000, out=1000, cc=1000, cr=1000), 'msg_bd1', 'req_bd1')
# 2026-01-09: whole-request tier boundary (models.dev): context exactly 200000, then 200001
e('2026-01-09T10:00:00.000Z', 'claude-opus-4-6-think', {'input_tokens': 100, 'cache_creation_input_tokens': 0, 'cache_read_input_tokens': 199900, 'output_tokens': 10}, 'msg_w1', 'req_w1')
e('2026-01-09T10:01:00.000Z', 'claude-sonnet-4-6-think', {'input_tokens': 1, 'cache_creation_input_tokens': 200000, 'cache_read_input_tokens': 0, 'output_tokens': 10,
  'cache_creation': {'ephemeral_5m_input_tokens': 100000, 'ephemeral_1h_input_tokens': 100000}}, 'msg_w2', 'req_w2')

with open('projects/-tmp-synthetic/synthetic.jsonl', 'w') as f:
    f.write('\n'.join(lines) + '\n')
