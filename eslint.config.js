// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The pure parts decide; they never touch the world. Sockets, timers, the clock, randomness
// and the disk live only in node/, client/ and the tools above them, behind the interfaces in
// core/ (DESIGN.md section 2). These rules make a slip a lint error instead of a review comment.
const pureFolders = [
  'src/core/**/*.ts',
  'src/protocol/**/*.ts',
  'src/store/**/*.ts',
  'src/raft/**/*.ts',
  'src/control/**/*.ts',
  'src/replication/**/*.ts',
];
const worldModules = [
  'net',
  'tls',
  'dgram',
  'http',
  'https',
  'http2',
  'fs',
  'fs/promises',
  'child_process',
  'timers',
  'timers/promises',
  'worker_threads',
  'cluster',
  'os',
  'perf_hooks',
  'crypto',
];
const worldPaths = worldModules.flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.bench/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        clearImmediate: 'readonly',
        queueMicrotask: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        fetch: 'readonly',
        performance: 'readonly',
        structuredClone: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: pureFolders,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: worldPaths.map((name) => ({
            name,
            message:
              'Pure state machines do no I/O: take the input as an argument and return effects.',
          })),
          patterns: [
            {
              group: ['**/node/*', '**/client/*', '**/cli/*', '**/admin/*', '**/session/*'],
              message: 'Layers point one way: a pure part never imports the runtime.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...[
          'setTimeout',
          'setInterval',
          'setImmediate',
          'clearTimeout',
          'clearInterval',
          'clearImmediate',
          'queueMicrotask',
          'process',
          'fetch',
          'performance',
        ].map((name) => ({
          name,
          message:
            'Pure state machines take time as an input (`now` or ticks) and return timers as effects.',
        })),
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Take `now` as an argument.' },
        {
          object: 'Math',
          property: 'random',
          message: 'Take a seeded Random from core/random.ts.',
        },
        { object: 'performance', property: 'now', message: 'Take `now` as an argument.' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Take `now` as an argument.',
        },
      ],
    },
  },
  {
    files: ['src/node/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/client/*', '**/cli/*', '**/admin/*', '**/session/*'],
              message: 'Layers point one way: the node runtime never imports the layers above it.',
            },
          ],
        },
      ],
    },
  },
  {
    // Session stores sit on the client: they reach the cluster only through it, never through
    // the runtime or the pure parts (the client's index re-exports the types they need).
    files: ['src/session/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/node/*',
                '**/protocol/*',
                '**/store/*',
                '**/raft/*',
                '**/control/*',
                '**/replication/*',
                '**/cli/*',
                '**/admin/*',
              ],
              message: 'Layers point one way: session stores use only the client and core.',
            },
            {
              group: ['express', 'express-session', 'fastify', '@fastify/*', 'connect-redis'],
              allowTypeImports: true,
              message:
                "The stores must not need the application's web framework at run time: take it as an argument, or import types only.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
