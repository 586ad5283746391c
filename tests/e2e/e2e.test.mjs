// End to end: the demo app (examples/todo-react) and the reference sync
// server, in two Chromium contexts (two devices: each has its own OPFS).
// Every name carries a run suffix, so the suite also passes against a
// server that holds older data (E2E_APP_URL=http://localhost:5173/).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SCREENSHOTS, eventually, openApp, ready, screenshot, startAll } from './harness.mjs';

const RUN = Date.now().toString(36);
let env;
let ctxA;
let ctxB;
let a;
let b;

before(async () => {
  const t0 = Date.now();
  env = await startAll();
  ctxA = await env.browser.newContext({ viewport: { width: 1000, height: 700 } });
  ctxB = await env.browser.newContext({ viewport: { width: 1000, height: 700 } });
  a = ui(await openApp(ctxA, env.appUrl, 'A'));
  b = ui(await openApp(ctxB, env.appUrl, 'B'));
  console.log(`e2e: app ${env.appUrl}, sync ${env.syncUrl} (ready in ${Date.now() - t0} ms)`);
});

after(async () => {
  await env?.stop();
  console.log(`e2e: screenshots in ${SCREENSHOTS}`);
});

/** Each test starts with both contexts online and syncing, whatever the last one left. */
async function online() {
  await ctxA.setOffline(false);
  await ctxB.setOffline(false);
  await a.setOfflineSwitch(false);
  await b.setOfflineSwitch(false);
}

/** The app's controls, found the way a user finds them (labels, roles). */
function ui(page) {
  const todo = (title) => page.getByTestId('todo').filter({ has: page.getByText(title, { exact: true }) });
  return {
    page,
    todo,
    async addProject(name) {
      await page.getByLabel('New project name').fill(name);
      await page.getByRole('button', { name: 'Add', exact: true }).click();
      await page.getByTestId('project').filter({ hasText: name }).waitFor();
    },
    async openProject(name) {
      const button = page.getByTestId('project').filter({ hasText: name });
      await button.waitFor({ timeout: 15_000 });
      await button.click();
    },
    async addTodo(title) {
      await page.getByLabel('New todo title').fill(title);
      await page.getByRole('button', { name: 'Add todo' }).click();
    },
    async editTodo(from, to) {
      await todo(from).getByRole('button', { name: 'Edit', exact: true }).click();
      // The row now holds an input instead of the title: one editor at a time.
      const editor = page.locator('form.edit');
      await editor.getByLabel('Edit title').fill(to);
      await editor.getByRole('button', { name: 'Save' }).click();
      await todo(to).waitFor();
    },
    titles: async () => (await page.getByTestId('todo-title').allTextContents()).sort(),
    pending: async () => Number(await page.getByTestId('pending-count').getAttribute('data-count')),
    syncState: () => page.getByTestId('sync-badge').getAttribute('data-state'),
    setOfflineSwitch: (on) => page.getByTestId('offline-switch').setChecked(on),
    async synced() {
      await eventually('no pending events', async () => (await this.pending()) === 0);
    },
  };
}

test('a todo added in one context appears in the other (then toggled, deleted)', { timeout: 60_000 }, async () => {
  await online();
  const project = `Home ${RUN}`;
  const title = `Buy milk ${RUN}`;
  await a.addProject(project);
  await a.addTodo(title);
  await a.todo(title).waitFor();
  await a.synced();

  // B's "All todos" view joins each todo with its project's name.
  await b.todo(title).waitFor({ timeout: 15_000 });
  assert.equal(await b.todo(title).locator('.tag').textContent(), project);
  await screenshot(b.page, 'a0-B-all-todos');
  await b.openProject(project);
  // The project list's sub-query counts it (open/total).
  await eventually('B counts 1 open of 1', async () =>
    (await b.page.getByTestId('project').filter({ hasText: project }).textContent())?.includes('1/1'),
  );
  // Toggle in B, see it done in A.
  await b.page.getByLabel(`Done: ${title}`).check();
  await a.page.getByTestId('todo').filter({ hasText: title }).and(a.page.locator('.done')).waitFor({ timeout: 15_000 });
  await screenshot(a.page, 'a1-context-A');
  await screenshot(b.page, 'a2-context-B');

  // Delete in A, gone in B.
  await a.todo(title).getByRole('button', { name: `Delete ${title}` }).click();
  await eventually('B no longer has the todo', async () => (await b.todo(title).count()) === 0);
});

test('offline: add and edit, reload keeps them pending, online: both converge', { timeout: 90_000 }, async () => {
  await online();
  const project = `Trip ${RUN}`;
  await a.addProject(project);
  await a.synced();
  await b.openProject(project);

  // The browser loses the network: the badge says so.
  await ctxA.setOffline(true);
  await eventually('A shows offline', async () => (await a.syncState()) === 'offline');
  // And the app's switch pauses sync, so nothing is pushed after a reload either.
  await a.setOfflineSwitch(true);
  await eventually('A shows paused', async () => (await a.syncState()) === 'paused');

  const draft = `Pack bags ${RUN}`;
  const edited = `Pack bags and passports ${RUN}`;
  await a.addTodo(draft);
  await a.todo(draft).waitFor();
  await a.editTodo(draft, edited);
  await eventually('A has pending events', async () => (await a.pending()) >= 1);
  await eventually('the row is marked pending', async () => (await a.todo(edited).getAttribute('data-pending')) === 'true');

  // Meanwhile B writes to the same project and syncs.
  const fromB = `Book hotel ${RUN}`;
  await b.addTodo(fromB);
  await b.synced();
  await screenshot(a.page, 'b1-A-offline-pending');

  // Reload A (network back, switch still on): the edited row is still there and pending.
  await ctxA.setOffline(false);
  const pendingBefore = await a.pending();
  await a.page.reload();
  await ready(a.page);
  assert.equal(await a.page.getByTestId('offline-switch').isChecked(), true, 'the switch survives the reload');
  await a.openProject(project);
  await a.todo(edited).waitFor({ timeout: 15_000 });
  assert.equal(await a.todo(edited).getAttribute('data-pending'), 'true', 'still pending after the reload');
  await eventually('same pending count after the reload', async () => (await a.pending()) === pendingBefore);
  assert.equal(await a.todo(fromB).count(), 0, 'paused: B\'s todo not pulled yet');
  assert.equal(await b.todo(edited).count(), 0, 'B has not seen the offline todo');
  await screenshot(a.page, 'b2-A-reloaded-still-pending');

  // Online again: both sides converge.
  await a.setOfflineSwitch(false);
  await a.synced();
  await a.todo(fromB).waitFor({ timeout: 15_000 });
  await b.todo(edited).waitFor({ timeout: 15_000 });
  assert.equal(await a.todo(draft).count(), 0, 'the pre-edit title is gone');
  await eventually('A and B show the same todos', async () => {
    const [ta, tb] = [await a.titles(), await b.titles()];
    return ta.length === 2 && JSON.stringify(ta) === JSON.stringify(tb);
  });
  assert.equal(await a.todo(edited).getAttribute('data-pending'), 'false');
  await screenshot(a.page, 'b3-A-converged');
  await screenshot(b.page, 'b4-B-converged');
});

test('the server rejects an empty title: the UI shows why and the row rolls back', { timeout: 60_000 }, async () => {
  await online();
  const project = `Chores ${RUN}`;
  const valid = `Water plants ${RUN}`;
  await a.addProject(project);
  await a.synced();
  await b.openProject(project);

  // Pause so the refused row is visible locally before the server sees it.
  await a.setOfflineSwitch(true);
  await a.addTodo(valid);
  await a.addTodo('');
  await a.todo('(empty)').waitFor();
  await eventually('2 rows in A', async () => (await a.titles()).length === 2);
  await screenshot(a.page, 'c1-A-empty-title-pending');

  await a.setOfflineSwitch(false);
  const rejection = a.page.getByTestId('rejection');
  await rejection.waitFor({ timeout: 15_000 });
  const reason = await rejection.getByTestId('rejection-reason').textContent();
  assert.match(reason ?? '', /title/i, `the reason names the field: ${reason}`);
  assert.match((await rejection.textContent()) ?? '', /New todo \(empty title\)/);
  // Rolled back: only the valid todo is left, here and in B.
  await eventually('the empty row is gone in A', async () => (await a.todo('(empty)').count()) === 0);
  await a.synced();
  await b.todo(valid).waitFor({ timeout: 15_000 });
  assert.deepEqual(await a.titles(), [valid]);
  assert.deepEqual(await b.titles(), [valid]);
  assert.equal(await b.page.getByTestId('rejection').count(), 0, 'B has nothing to reject');
  await screenshot(a.page, 'c2-A-rejected-rolled-back');

  // Dismissing the rejection is durable (cleared in the core, not just hidden).
  await rejection.getByRole('button', { name: 'Dismiss' }).click();
  await eventually('the rejection is dismissed', async () => (await a.page.getByTestId('rejection').count()) === 0);
  await a.page.reload();
  await ready(a.page);
  await a.openProject(project);
  await a.todo(valid).waitFor();
  assert.equal(await a.page.getByTestId('rejection').count(), 0, 'still dismissed after a reload');
  await screenshot(a.page, 'c3-A-dismissed');
});
