import { test } from 'node:test';
import assert from 'node:assert/strict';
import { criEventType, EventQueue } from './events';

const ev = (Action: string, Type = 'container') => ({ Type, Action, Actor: { ID: 'c1', Attributes: {} }, timeNano: 1 });

test('events: engine actions map to CRI event types', () => {
  assert.equal(criEventType(ev('create')), 'CONTAINER_CREATED_EVENT');
  assert.equal(criEventType(ev('start')), 'CONTAINER_STARTED_EVENT');
  assert.equal(criEventType(ev('die')), 'CONTAINER_STOPPED_EVENT');
  assert.equal(criEventType(ev('destroy')), 'CONTAINER_DELETED_EVENT');
  assert.equal(criEventType(ev('kill')), undefined);
  assert.equal(criEventType(ev('create', 'image')), undefined);
});

test('events: the queue hands items out in order, drops the oldest when full, ends on abort', async () => {
  const q = new EventQueue<number>(2);
  const ac = new AbortController();
  const waiting = q.next(ac.signal);
  q.push(1);
  assert.equal(await waiting, 1);
  for (const n of [2, 3, 4]) q.push(n);
  assert.equal(q.dropped, 1);
  assert.equal(await q.next(ac.signal), 3);
  assert.equal(await q.next(ac.signal), 4);
  for (let i = 0; i < 50; i++) {
    const p = q.next(ac.signal);
    q.push(i);
    assert.equal(await p, i);
  }
  const last = q.next(ac.signal);
  ac.abort();
  assert.equal(await last, undefined);
});
