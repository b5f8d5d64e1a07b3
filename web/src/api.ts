// The gateway's REST API as the app uses it: bearer session token, {detail, code} errors, SSE streams.
import { reactive } from 'vue'

const TOKEN_KEY = 'simswarm.token'
const EMAIL_KEY = 'simswarm.email'

export const session = reactive({
  token: localStorage.getItem(TOKEN_KEY) ?? '',
  email: localStorage.getItem(EMAIL_KEY) ?? '',
})

export function setSession(token: string, email: string): void {
  session.token = token
  session.email = email
  localStorage.setItem(TOKEN_KEY, token)
  localStorage.setItem(EMAIL_KEY, email)
}

export function clearSession(): void {
  session.token = ''
  session.email = ''
  localStorage.removeItem(TOKEN_KEY)
  localStorage.removeItem(EMAIL_KEY)
}

/** An error answer of the gateway; `field` is the request field the detail names, when it names one. */
export class ApiError extends Error {
  constructor(public status: number, public code: string, public detail: string, public field: string | null) {
    super(detail)
  }
}

/** The field a detail such as "markets[0].question: is required" or a pydantic `loc` names. */
export function fieldOf(detail: string, loc?: unknown): string | null {
  if (Array.isArray(loc) && loc.length) {
    const parts = loc.filter((p) => p !== 'body').map(String)
    if (parts.length) return parts.join('.')
  }
  const m = /^([A-Za-z_][\w]*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*)\s*:/.exec(detail)
  return m ? m[1] : null
}

export async function api<T = unknown>(method: string, path: string, body?: unknown,
                                       headers: Record<string, string> = {}): Promise<T> {
  const h: Record<string, string> = { Accept: 'application/json', ...headers }
  if (session.token) h.Authorization = `Bearer ${session.token}`
  if (body !== undefined) h['Content-Type'] = 'application/json'
  let res: Response
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) })
  } catch {
    throw new ApiError(0, 'network', 'the server cannot be reached; check your connection', null)
  }
  if (res.status === 204) return undefined as T
  const type = res.headers.get('Content-Type') ?? ''
  const data: unknown = type.includes('json') ? await res.json().catch(() => null) : await res.text()
  if (!res.ok) {
    const d = (data ?? {}) as { detail?: unknown; code?: string; loc?: unknown }
    const detail = typeof d.detail === 'string' ? d.detail : `request failed (${res.status})`
    if (res.status === 401 && session.token && path !== '/api/auth/login') clearSession()
    throw new ApiError(res.status, d.code ?? String(res.status), detail, fieldOf(detail, d.loc))
  }
  return data as T
}

export interface Progress { round: number; rounds: number; percent: number }
export interface Market { market_id?: string; question: string; initial_price_yes?: number; rationale?: string }
export interface Job {
  job_id: string; status: string; stage?: string; terminal: boolean; tier: string; goal: string
  policy?: string; agents?: number; rounds?: number; progress?: Progress
  created_at: string; updated_at?: string; finished_at?: string | null
  timings?: Record<string, { start?: string; end?: string; seconds?: number }>
  pod?: { provider?: string; gpu_type?: string; cost?: number; cost_per_hour?: number } | null
  markets?: Market[]; prices?: Record<string, number>; final_prices?: Record<string, number>
  verdict?: unknown; error?: string | null; retry_of?: string | null
  artifacts?: { count: number; files: string[]; report: boolean; graph: boolean; sim_data: boolean }
  result?: Record<string, unknown> | null
  [k: string]: unknown
}
export interface TimelineEntry { seq: number; type: string; occurred_at: string; data: Record<string, unknown> }
export interface DataFile { name: string; size: number | null; sha256: string | null; content_type: string; url: string }

export const TERMINAL = new Set(['JobCompleted', 'JobFailed', 'JobCancelled'])
export const LIVE_STATUSES = new Set(['created', 'provisioning', 'running', 'reporting', 'cancelling'])

export interface StreamHandle { close(): void }

/**
 * Follow a job's events over SSE with EventSource. EventSource cannot send an Authorization header,
 * so the app first asks for a short-lived stream ticket (bearer-authenticated) and passes it in the
 * URL; the ticket opens only this job's stream, for a minute. On a drop the stream is reopened with a
 * fresh ticket and `after_seq` = the last event id seen, so nothing is missed or repeated.
 */
export function followJob(jobId: string, onEvent: (e: TimelineEntry) => void,
                          onState: (s: 'open' | 'reconnecting' | 'closed' | 'error', msg?: string) => void,
                          base = `/api/jobs/${jobId}`): StreamHandle {
  let last = 0
  let es: EventSource | null = null
  let stopped = false
  let retries = 0
  let timer: number | undefined

  const open = async () => {
    if (stopped) return
    let ticket = ''
    try {
      ticket = (await api<{ ticket: string }>('POST', `${base}/stream-ticket`)).ticket
    } catch (err) {
      const e = err as ApiError
      if (e.status === 404 || e.status === 401) { onState('error', e.detail); return }
      return retry()
    }
    const url = `${base}/stream?ticket=${encodeURIComponent(ticket)}${last ? `&after_seq=${last}` : ''}`
    es = new EventSource(url)
    es.onopen = () => { retries = 0; onState('open') }
    es.onerror = () => {
      // The server closes the stream after a terminal event; otherwise reopen with a fresh ticket.
      es?.close(); es = null
      if (!stopped) retry()
    }
    const handler = (msg: MessageEvent) => {
      const entry = JSON.parse(msg.data) as TimelineEntry
      if (entry.seq <= last) return
      last = entry.seq
      onEvent(entry)
      if (TERMINAL.has(entry.type)) { stopped = true; es?.close(); onState('closed') }
    }
    es.onmessage = handler
    for (const t of EVENT_TYPES) es.addEventListener(t, handler as EventListener)
  }
  const retry = () => {
    if (stopped) return
    onState('reconnecting')
    retries += 1
    timer = window.setTimeout(open, Math.min(30000, 1000 * 2 ** Math.min(retries, 5)))
  }
  void open()
  return { close() { stopped = true; window.clearTimeout(timer); es?.close() } }
}

// Every event type a job's stream carries (SSE `event:` names): EventSource needs a listener per name.
export const EVENT_TYPES = [
  'JobCreated', 'JobCancellationRequested', 'JobCompleted', 'JobFailed', 'JobCancelled', 'PodRequested',
  'PodProvisioned', 'PodProvisionFailed', 'PodReady', 'PodUnhealthy', 'PodTeardownRequested', 'PodTerminated',
  'StrayPodReaped', 'RunRequested', 'RunStarted', 'RunProgressed', 'RunCheckpointed', 'RunCompleted',
  'RunFailed', 'ReportRequested', 'ReportWritten', 'ReportFailed', 'GraphBuilt', 'GraphFailed',
]

export function fmtBytes(n: number | null | undefined): string {
  if (n == null) return '–'
  if (n < 1024) return `${n} B`
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 ** 2).toFixed(1)} MiB`
}

export function fmtTime(iso?: string | null): string {
  return iso ? new Date(iso).toLocaleString() : '–'
}
