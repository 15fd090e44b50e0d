#!/usr/bin/env node
/**
 * The `roost` command.
 *
 *   roost start [--config F] [--data-dir D] [--host H] [--mqtt-port P] [--stomp-port P] [--http-port P] [--log-level L]
 *   roost passwd add|delete|list FILE [USER] [--group G ...]
 *   roost --version | --help | help
 *
 * Exit codes: 0 clean shutdown (start) or done (passwd); 1 the broker could
 * not start or stopped on an error, or passwd failed; 2 the command line or
 * the configuration is wrong.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import type { Broker } from './broker.js';
import type { RoostConfig } from './config/types.js';
import { RoostError } from './core/errors.js';
import { roostVersion } from './version.js';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

/** Looked for in the working directory when neither `--config` nor `ROOST_CONFIG` names a file. */
const DEFAULT_CONFIG_FILE = 'roost.yaml';

const USAGE = `Usage: roost <command> [options]

Commands:
  start                 run the broker in the foreground until SIGINT or SIGTERM;
                        SIGHUP reloads the TLS certificate files and the users file
  passwd add FILE USER  add USER to the users file FILE (created if missing) or change
                        their password: asked twice on a terminal, else the first line
                        of standard input; -g, --group NAME (repeatable) sets the groups
  passwd delete FILE USER
                        remove USER from FILE
  passwd list FILE      print the users of FILE and their groups (never the hashes)
  help                  show this help

Options for start (each overrides the config file and the environment):
  -c, --config FILE     YAML config file; default: $ROOST_CONFIG, else ./${DEFAULT_CONFIG_FILE} if present
      --data-dir DIR    LevelDB directory (dataDir, default ./data)
      --host HOST       interface every listener binds (host, default 127.0.0.1)
      --mqtt-port PORT  MQTT TCP port, 0 disables it (mqtt.port, default 1883)
      --stomp-port PORT STOMP TCP port, 0 disables it (stomp.port, default 61613)
      --http-port PORT  HTTP port for MQTT and STOMP over WebSocket and /healthz,
                        0 disables it (http.port, default 8080)
      --log-level LEVEL fatal, error, warn, info, debug, trace or silent (log.level, default info)

  -h, --help            show this help
  -v, --version         print the version

Every key of config/roost.yaml can also be set in the environment as ROOST_
followed by its path in SCREAMING_SNAKE_CASE, e.g. mqtt.maxQueuedMessages is
ROOST_MQTT_MAX_QUEUED_MESSAGES. Precedence: defaults < file < environment < flags.
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  'data-dir': { type: 'string' },
  host: { type: 'string' },
  'mqtt-port': { type: 'string' },
  'stomp-port': { type: 'string' },
  'http-port': { type: 'string' },
  'log-level': { type: 'string' },
  group: { type: 'string', short: 'g', multiple: true },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

/** A mistake on the command line: print it with a usage hint and exit 2. */
class UsageError extends Error {}

function fail(message: string, code: number): never {
  process.stderr.write(`roost: ${message}\n`);
  process.exit(code);
}

function usageError(message: string): never {
  fail(`${message}\nRun "roost --help" for usage.`, EXIT_USAGE);
}

function parseCommandLine(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
      // Node's message continues with advice about "--"; the first sentence is the useful part.
      const first = (err as Error).message.split('. ')[0] ?? String(err);
      const sentence = first.endsWith('.') ? first.slice(0, -1) : first;
      throw new UsageError(sentence.charAt(0).toLowerCase() + sentence.slice(1));
    }
    throw err;
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function address(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The one line a user running on defaults needs: what is exposed, and how to change it. */
function announceDefaults(config: RoostConfig, log: Logger): void {
  const listeners = [
    ['MQTT', config.mqtt],
    ['STOMP', config.stomp],
    ['HTTP/WebSocket', config.http],
  ] as const;
  const enabled = listeners.filter(([, section]) => section.port !== 0);
  const where =
    enabled.length === 0
      ? 'no listener'
      : enabled
          .map(([name, { host, port }]) => `${name} on ${address(host, port)} (${isLoopback(host) ? 'local connections only' : 'reachable from the network'})`)
          .join(', ');
  log.info(
    `no config file (--config, ROOST_CONFIG or ./${DEFAULT_CONFIG_FILE}): ${where}, ` +
      `anonymous clients allowed, data in ${config.dataDir}; ` +
      `to change this, start with --config FILE (every key is in config/roost.yaml) or --host/--mqtt-port/--stomp-port/--http-port/ROOST_* variables`,
  );
}

/**
 * SIGINT/SIGTERM close the broker and exit 0; a second signal exits 1 at once.
 * A signal that arrives while the broker is still starting is honoured as
 * soon as `start` settles. Returns the function that hands over the broker.
 */
function handleSignals(log: Logger): (broker: Broker) => void {
  let broker: Broker | undefined;
  let requested = false;
  const stop = (running: Broker): void => {
    running.close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(EXIT_FAILURE);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (requested) {
      log.warn({ signal }, 'second signal: exiting without a clean shutdown');
      process.exit(EXIT_FAILURE);
    }
    requested = true;
    log.info({ signal }, 'shutting down');
    if (broker) stop(broker);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // SIGHUP: new certificates for new handshakes (open connections keep theirs) and the users file again. Before start it is ignored.
  process.on('SIGHUP', () => {
    if (broker === undefined || requested) return;
    try {
      if (!broker.reloadTls()) log.info('SIGHUP: no TLS configured, nothing to reload');
    } catch (err) {
      log.error({ err }, 'TLS reload failed; the previous certificate stays in use');
    }
    broker.reloadUsers().catch((err: unknown) => log.error({ err }, 'users reload failed; the previous users stay in effect'));
  });
  return (started) => {
    broker = started;
    if (requested) stop(started);
  };
}

function exitOnUnexpectedErrors(log: Logger): void {
  const onError = (err: unknown): void => {
    log.fatal({ err }, 'unexpected error');
    process.exit(EXIT_FAILURE);
  };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
}

async function start(values: ReturnType<typeof parseCommandLine>['values']): Promise<void> {
  // Loaded here, not at the top, so --version and --help answer without loading the broker.
  const [{ loadConfig }, { createLogger }, { Broker }] = await Promise.all([
    import('./config/load.js'),
    import('./log.js'),
    import('./broker.js'),
  ]);
  const env = process.env;
  let file = values.config ?? (env['ROOST_CONFIG'] || undefined);
  if (file === undefined && existsSync(DEFAULT_CONFIG_FILE)) file = DEFAULT_CONFIG_FILE;

  let config: RoostConfig;
  try {
    config = loadConfig({
      file,
      env,
      flags: {
        dataDir: values['data-dir'],
        host: values.host,
        'mqtt.port': values['mqtt-port'],
        'stomp.port': values['stomp-port'],
        'http.port': values['http-port'],
        'log.level': values['log-level'],
      },
    });
  } catch (err) {
    if (err instanceof RoostError && err.code === 'CONFIG_INVALID') {
      const lines = err.message.split('\n');
      const count = lines.length === 1 ? '1 problem' : `${lines.length} problems`;
      fail(`invalid configuration, ${count}:\n${lines.map((l) => `  ${l}`).join('\n')}`, EXIT_USAGE);
    }
    if (err instanceof RoostError && err.code === 'CONFIG_UNREADABLE') fail(err.message, EXIT_USAGE);
    throw err;
  }

  const log = createLogger(config.log);
  exitOnUnexpectedErrors(log);
  const adopt = handleSignals(log);

  log.info({ version: roostVersion(), config: file ?? null }, 'starting roost');
  if (file === undefined) announceDefaults(config, log);
  const exposed = [config.host, config.mqtt.host, config.stomp.host, config.http.host].filter((host) => !isLoopback(host));
  if (exposed.length > 0 && config.auth.allowAnonymous) {
    log.warn(`anonymous clients allowed on ${exposed[0]}, which is reachable from the network`);
  }
  log.debug({ config }, 'effective configuration');

  let broker: Broker;
  try {
    broker = await Broker.start(config, log);
  } catch (err) {
    // Address in use, store locked or corrupt: the user's to fix, so one line, no stack.
    if (err instanceof RoostError) fail(err.message, EXIT_FAILURE);
    log.fatal({ err }, 'unexpected error while starting');
    process.exit(EXIT_FAILURE);
  }

  // With every listener disabled nothing else holds the event loop; the broker still runs until a signal.
  setInterval(() => undefined, 2 ** 30);
  const { mqtt, stomp, http, mqtts, stomps, https } = broker.ports;
  if ([mqtt, stomp, http, mqtts, stomps, https].every((port) => port === undefined)) {
    log.warn('no listener enabled (mqtt.port, stomp.port and http.port are 0, and no TLS): no client can connect');
  }
  const at = (host: string, port: number | undefined): string | null => (port === undefined ? null : address(host, port));
  log.info(
    {
      mqtt: at(config.mqtt.host, mqtt),
      stomp: at(config.stomp.host, stomp),
      http: at(config.http.host, http),
      ...(mqtts === undefined ? {} : { mqtts: at(config.mqtt.host, mqtts) }),
      ...(stomps === undefined ? {} : { stomps: at(config.stomp.host, stomps) }),
      ...(https === undefined ? {} : { https: at(config.http.host, https) }),
    },
    'ready',
  );
  adopt(broker);
}

/** Options that only `start` reads. */
const START_OPTIONS = ['config', 'data-dir', 'host', 'mqtt-port', 'stomp-port', 'http-port', 'log-level'] as const;

async function passwd(args: readonly string[], values: ReturnType<typeof parseCommandLine>['values']): Promise<void> {
  const [action, file, user, extra] = args;
  const given = START_OPTIONS.find((name) => values[name] !== undefined);
  if (given) usageError(`--${given} is not an option of passwd`);
  if (action !== 'add' && action !== 'delete' && action !== 'list') {
    usageError(action === undefined ? 'passwd needs add, delete or list' : `unknown passwd action "${action}"`);
  }
  if (file === undefined) usageError(`passwd ${action} needs a users FILE`);
  if (action === 'list' ? user !== undefined : extra !== undefined) usageError(`unexpected argument "${action === 'list' ? user : extra}"`);
  if (action !== 'add' && values.group !== undefined) usageError('--group is an option of passwd add');
  const [{ addUser, deleteUser, listUsers }, { groupNameProblem, usernameProblem }, { PromptError, readNewPassword }] = await Promise.all([
    import('./auth/passwd.js'),
    import('./auth/users.js'),
    import('./auth/password-prompt.js'),
  ]);
  try {
    if (action === 'list') {
      const { users, problems } = await listUsers(file);
      const width = Math.max(0, ...[...users.keys()].map((name) => name.length));
      for (const entry of users.values()) {
        process.stdout.write(`${entry.groups.length > 0 ? `${entry.name.padEnd(width)}  ${entry.groups.join(', ')}` : entry.name}\n`);
      }
      if (problems.length > 0) fail(`${file} has problems:\n${problems.map((line) => `  ${line}`).join('\n')}`, EXIT_FAILURE);
      return;
    }
    if (user === undefined) usageError(`passwd ${action} needs a USER`);
    if (action === 'delete') {
      if (!(await deleteUser(file, user))) fail(`no user "${user}" in ${file}`, EXIT_FAILURE);
      process.stderr.write(`roost: deleted user "${user}" from ${file}\n`);
      return;
    }
    const nameProblem = usernameProblem(user);
    if (nameProblem) usageError(`user name ${JSON.stringify(user)} ${nameProblem}`);
    const groupProblem = values.group?.map(groupNameProblem).find((problem) => problem !== undefined);
    if (groupProblem) usageError(groupProblem);
    const password = await readNewPassword(process.stdin, process.stderr);
    const problems = await addUser(file, user, password, values.group);
    process.stderr.write(`roost: set the password of "${user}" in ${file}\n`);
    if (problems.length > 0) {
      process.stderr.write(`roost: warning: ${file} still has problems:\n${problems.map((line) => `  ${line}`).join('\n')}\n`);
    }
  } catch (err) {
    if (err instanceof RoostError || err instanceof PromptError) fail(err.message, EXIT_FAILURE);
    throw err;
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(argv);
  if (values.version) {
    process.stdout.write(`${roostVersion()}\n`);
    return;
  }
  const [command, ...rest] = positionals;
  if (values.help || command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (command === undefined) usageError('no command given');
  if (command === 'passwd') return passwd(rest, values);
  if (command !== 'start') usageError(`unknown command "${command}"`);
  if (values.group !== undefined) usageError('--group is an option of passwd add');
  if (rest.length > 0) usageError(`unexpected argument "${rest[0]}"`);
  await start(values);
}

main(process.argv.slice(2)).catch(async (err: unknown) => {
  if (err instanceof UsageError) usageError(err.message);
  // Not a mistake a user can fix: a bug, logged whole, on a logger with default settings.
  const { createLogger } = await import('./log.js');
  createLogger({ level: 'info', pretty: process.stdout.isTTY === true }).fatal({ err }, 'unexpected error');
  process.exit(EXIT_FAILURE);
});
