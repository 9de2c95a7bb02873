/**
 * The web app of the lock tests: `POST /step/:name` logs when it starts (with the count it
 * loaded) and ends, waits at its gate in between, and adds one to the session's count;
 * `POST /reload` changes the count, reloads the session, and answers the count read back; an
 * error answers 500 with its code.
 */
import express from 'express';
import session from 'express-session';
import type { Gate } from './helpers.js';

declare module 'express-session' {
  interface SessionData {
    count: number;
  }
}

export function countingApp(
  store: session.Store,
  log: string[] = [],
  gates: ReadonlyMap<string, Gate> = new Map(),
): express.Express {
  const server = express();
  server.use(
    session({
      store,
      secret: 'lock secret',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
    }),
  );
  server.post('/step/:name', async (req, res) => {
    const { name } = req.params;
    log.push(`${name} starts, count ${req.session.count ?? 0}`);
    await gates.get(name)?.pass();
    req.session.count = (req.session.count ?? 0) + 1;
    log.push(`${name} ends`);
    res.json({ ok: true });
  });
  server.post('/reload', (req, res, next) => {
    req.session.count = -1;
    req.session.reload((error) => {
      if (error) return next(error);
      res.json({ count: req.session.count ?? null });
    });
  });
  server.use(
    (error: { code?: string }, _req: express.Request, res: express.Response, _next: unknown) => {
      res.status(500).json({ code: error.code });
    },
  );
  return server;
}
