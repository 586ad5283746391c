// The usage section of the reference README, as written there, with only
// the import lines and URLs adapted (see the notes marked ADAPTED).
// ADAPTED: no TanStack persistence platform (createBrowserPlatform, driver,
// persistence, persistedCollectionOptions): the core owns SQLite on OPFS.
import { createRoot } from 'react-dom/client'
import { createCollection, eq, useLiveQuery } from '@tanstack/react-db'
import { createEventSourcedDB } from '@eventsourced/db'
import { useRejections, useSyncStatus } from '@eventsourced/db/react'

const server = new URLSearchParams(location.search).get('server') // ADAPTED: the test server's URL
const getAccessToken = () => 'dev-token'

// 1. Define Your Data Types

type User = {
  id: string
  name: string
  email: string
  createdAt: number
}

type Todo = {
  id: string
  userId: string
  title: string
  status: 'pending' | 'complete'
  createdAt: number
  updatedAt: number
}

type AppSettings = {
  id: string
  theme: 'light' | 'dark'
  language: string
}

// 2. Setup the Database (Browser)

const db = await createEventSourcedDB({
  createCollection,
  sync: {
    push: `${server}/api/events`, // ADAPTED: URL
    pull: `${server}/api/events`, // ADAPTED: URL
    headers: () => ({ Authorization: `Bearer ${getAccessToken()}` }),
  },
  collections: {
    users: { getKey: (u: User) => u.id },
    todos: { getKey: (t: Todo) => t.id },
    settings: { getKey: (s: AppSettings) => s.id },
  },
})

// 3. Write Data (Exactly Like Normal TanStack DB)

// Insert a user
db.collections.users.insert({
  id: crypto.randomUUID(),
  name: 'Alice',
  email: 'alice@example.com',
  createdAt: Date.now(),
})

// Insert a todo that references the user
db.collections.todos.insert({
  id: crypto.randomUUID(),
  userId: 'user-1',
  title: 'Buy groceries',
  status: 'pending',
  createdAt: Date.now(),
  updatedAt: Date.now(),
})

// Update a todo
db.collections.todos.update('todo-1', (draft) => {
  draft.status = 'complete'
  draft.updatedAt = Date.now()
})

// Delete a todo
db.collections.todos.delete('todo-1')

// 4. Read Data (Exactly Like Normal TanStack DB)

function TodoList() {
  const { data: todos = [] } = useLiveQuery((q) =>
    q.from({ todo: db.collections.todos })
     // ADAPTED: TanStack DB 0.15 has no `.eq` method on refs; `eq()` is its operator
     .where(({ todo }) => eq(todo.status, 'pending'))
     .orderBy(({ todo }) => todo.createdAt, 'desc'),
  )

  const { data: users = [] } = useLiveQuery((q) =>
    q.from({ user: db.collections.users }),
  )

  return (
    <ul>
      {todos.map((todo) => (
        <li key={todo.id}>
          {todo.title} — {users.find((u) => u.id === todo.userId)?.name}
        </li>
      ))}
    </ul>
  )
}

function SyncBadge() {
  const status = useSyncStatus(db)
  const rejections = useRejections(db)
  return <p id="badge">{status.online ? 'online' : 'offline'} · {status.pendingCount} pending · {rejections.length} rejected</p>
}

createRoot(document.getElementById('root')!).render(<><SyncBadge /><TodoList /></>)

// 5. Sync When Ready

// Manual sync (e.g. on a button press or reconnect)
const result = await db.sync()
console.log(`Pushed ${result.pushed} events, pulled ${result.pulled} events`)

if (result.errors.length > 0) {
  console.error('Sync errors:', result.errors)
}

// Auto-sync on reconnect
window.addEventListener('online', () => db.sync())

// Periodic sync
setInterval(() => {
  if (navigator.onLine) db.sync()
}, 30_000)

;(window as unknown as { readme: unknown }).readme = { result: { pushed: result.pushed, pulled: result.pulled, errors: result.errors.length } }
