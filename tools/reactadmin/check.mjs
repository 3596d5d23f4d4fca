// check.mjs drives Gatehouse's admin API through the data provider of
// docs/admin.md (copied next to this file as provider.mjs by
// cmd/gatehouse/app's TestReactAdminDataProvider) and checks every answer
// with ra-core's own validateResponseFormat. Environment: GATEHOUSE_ADMIN_URL
// (the admin API), GATEHOUSE_TOKEN (an admin's bearer token),
// RA_VALIDATE (the path of ra-core's validateResponseFormat.js, which
// ra-core does not export). It prints "ok N" after N checked calls.
import assert from 'node:assert/strict';
import { fetchUtils } from 'ra-core';
import { gatehouseDataProvider } from './provider.mjs';

const { default: validateResponseFormat } = await import(process.env.RA_VALIDATE);
const token = process.env.GATEHOUSE_TOKEN;
const fetchJson = (url, options = {}) =>
  fetchUtils.fetchJson(url, { ...options, user: { authenticated: true, token: 'Bearer ' + token } });
const dp = gatehouseDataProvider(process.env.GATEHOUSE_ADMIN_URL, fetchJson);

let calls = 0;
const call = async (type, params) => {
  const res = await dp[type]('users', params);
  validateResponseFormat(res, type, (msg) => { throw new Error(msg); });
  calls++;
  return res;
};

const tag = 'ra' + Date.now();
const created = [];
for (const n of ['c', 'a', 'b']) {
  const { data } = await call('create', { data: { email: `${tag}-${n}@example.com`, name: `RA ${n}` } });
  assert.equal(data.email, `${tag}-${n}@example.com`);
  created.push(data);
}
const ids = created.map((u) => u.id);

const list = await call('getList', { pagination: { page: 1, perPage: 2 }, sort: { field: 'email', order: 'ASC' }, filter: { q: tag } });
assert.equal(list.total, 3);
assert.deepEqual(list.data.map((u) => u.name), ['RA a', 'RA b']);
const page2 = await call('getList', { pagination: { page: 2, perPage: 2 }, sort: { field: 'email', order: 'ASC' }, filter: { q: tag, blocked: false } });
assert.deepEqual(page2.data.map((u) => u.name), ['RA c']);
assert.equal(page2.total, 3);

const one = await call('getOne', { id: ids[0] });
assert.equal(one.data.id, ids[0]);

const many = await call('getMany', { ids });
assert.deepEqual(many.data.map((u) => u.id).sort(), [...ids].sort());

const ref = await call('getManyReference', { target: 'role', id: 'user', pagination: { page: 1, perPage: 10 }, sort: { field: 'created_at', order: 'DESC' }, filter: { q: tag } });
assert.equal(ref.total, 3);

// The edit form sends the whole record back, read-only fields included.
const edited = await call('update', { id: ids[0], data: { ...one.data, name: 'RA edited' }, previousData: one.data });
assert.equal(edited.data.name, 'RA edited');
await assert.rejects(dp.update('users', { id: ids[0], data: { ...edited.data, created_at: '2001-01-01T00:00:00Z' }, previousData: edited.data }),
  (err) => err.status === 400 && err.body.code === 'validation_failed' && 'created_at' in err.body.fields);

const blocked = await call('updateMany', { ids: ids.slice(1), data: { blocked: true } });
assert.deepEqual(blocked.data.sort(), ids.slice(1).sort());
const nowBlocked = await call('getList', { pagination: { page: 1, perPage: 10 }, sort: { field: 'email', order: 'ASC' }, filter: { q: tag, blocked: true } });
assert.equal(nowBlocked.total, 2);

const del = await call('delete', { id: ids[0], previousData: edited.data });
assert.equal(del.data.id, ids[0]);
const delMany = await call('deleteMany', { ids: ids.slice(1) });
assert.deepEqual(delMany.data.sort(), ids.slice(1).sort());
const gone = await call('getMany', { ids });
assert.equal(gone.data.length, 0);

console.log('ok ' + calls);
