// The `ledger` command line: a thin shell over config, topology and runtime. Every failure is
// one line on stderr and a non-zero exit; never a stack trace.
import { describeFailure, UsageError } from './errors.js';
import { RUN_USAGE, runCommand } from './run.js';
import { SCHEMAS_USAGE, schemasCommand } from './schemas.js';
import { TOPICS_USAGE, topicsCommand } from './topics.js';
import { VALIDATE_USAGE, validateCommand } from './validate.js';
import { DEMO_USAGE, demoCommand } from './demo.js';
import { REPLAY_USAGE, replayCommand } from './replay.js';
import { PROVE_USAGE, proveCommand } from './prove.js';
import { VERIFY_USAGE, verifyCommand } from './verify.js';
import { DUMP_USAGE, dumpCommand } from './dump.js';
import { FRESHNESS_USAGE, freshnessCommand } from './freshness.js';

const HELP = `ledger — the Findings Ledger stream pipeline

usage:
  ${VALIDATE_USAGE}
  ${REPLAY_USAGE}
  ${PROVE_USAGE}
  ${VERIFY_USAGE}
  ${DUMP_USAGE}
  ${RUN_USAGE}
  ${FRESHNESS_USAGE}
  ${TOPICS_USAGE}
  ${SCHEMAS_USAGE}
  ${DEMO_USAGE}
  ledger --help

Configuration comes from environment variables (see README.md, "Configuration"); flags override them.
`;

type Command = (argv: readonly string[]) => Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  validate: (argv) => validateCommand(argv, { stdin: process.stdin, stdout: process.stdout }),
  run: runCommand,
  replay: replayCommand,
  prove: (argv) => proveCommand(argv, process.stdout),
  verify: (argv) => verifyCommand(argv, process.stdout),
  dump: (argv) => dumpCommand(argv, process.stdout),
  topics: (argv) => topicsCommand(argv, process.stdout),
  schemas: (argv) => schemasCommand(argv, process.stdout),
  demo: demoCommand,
  freshness: (argv) => freshnessCommand(argv, process.stdout),
};

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`ledger: unknown command "${name}" (see ledger --help)`);
  return command(rest);
}

process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
});

// The long-running commands exit once they have stopped everything of theirs: a client library
// may keep a socket open (KafkaJS left a broker connection behind after a broker restart, and the
// process lingered for minutes after a clean stop). stdout and stderr are pipes or files here,
// which Node writes synchronously on Linux, so nothing written is lost.
const EXIT_WHEN_DONE = new Set(['run', 'demo']);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    if (EXIT_WHEN_DONE.has(process.argv[2] ?? '')) process.exit(code);
  },
  (error: unknown) => {
    const { line, exitCode } = describeFailure(error);
    process.stderr.write(`ledger: ${line.replace(/^ledger:? /, '')}\n`);
    process.exit(exitCode);
  },
);
