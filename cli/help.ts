import type { CommandName } from './args.js';

const serverOption = `  --server HOST:PORT       Gateway address (default: FAAS_SERVER, else 127.0.0.1:50051)
  -h, --help               Show this help`;

const overview = `faas runs git repositories as jobs on the FaaS platform.

Usage: faas COMMAND [OPTIONS] [ARGUMENTS]

Commands:
  submit   Submit a repository as a job and print the job id
  status   Print a job's record
  result   Print a finished job's output and exit with its exit code
  logs     Print a job's output, optionally following it
  list     List your jobs, newest first
  scale    Show the autoscaler's decision and recent changes (admins)
  watch    Print a line for each state or phase change of a job
  cancel   Cancel a queued or running job
  login    Log in at the identity provider and store the tokens
  logout   Delete the stored tokens and revoke the refresh token
  whoami   Print the user, roles and expiry of the current token
  token    Print the current access token, for scripts and other clients
  help     Show the help of a command

Options of the job commands:
${serverOption}

Environment:
  FAAS_SERVER       Gateway address as HOST:PORT, overridden by --server
  FAAS_TOKEN        Bearer token sent with every call, instead of the stored one
  FAAS_ISSUER       Identity provider for "faas login"
                    (default http://127.0.0.1:50080/realms/faas)
  FAAS_CONFIG_DIR   Folder of credentials.json (default
                    $XDG_CONFIG_HOME/faas, else ~/.config/faas)

Every job command sends FAAS_TOKEN when it is set, else the access token
stored by "faas login", which it renews first when it expires within 30 s.
Without either, it sends no token.

Exit codes: 0 on success, 1 when a call fails, 2 for a usage error or a
value the gateway rejects (INVALID_ARGUMENT). "result" and "submit --wait"
exit with the job's exit code instead; see "faas help submit".

Run "faas help COMMAND" for the options of a command, and "faas --version"
for the version.
`;

const jobExitCodes = `Exit codes:
  the job's exit code   when the job's program exited; 128+N when signal N
                        ended it, as in a shell (137 for SIGKILL, such as
                        at the memory or output limit)
  124                   when the job timed out
  127                   when the job's program could not be started
  130                   when the job was cancelled
  1                     when the job failed without an exit code, or with
                        exit code 0 (a limit it passed), or a call failed
  2                     for a usage error or a value the gateway rejects`;

const commandHelp: Record<CommandName, string> = {
  submit: `Usage: faas submit REPOSITORY_URL [OPTIONS] [-- COMMAND [ARGS...]]

Submits the repository as a job and prints the job id. COMMAND and ARGS after
"--" are the program the job runs in the repository root. Without them, the job
runs the first of main.py, main.sh, main.c, main.cpp and main.js it finds there;
give that program arguments with --arg.
A worker lowers a limit above its maximum and says so on the job's stderr.

Options:
  --ref REF                Branch, tag or full commit SHA to check out
                           (default: the remote's HEAD)
  --env KEY=VALUE          Environment variable of the job; repeat for more.
                           A later value for the same KEY wins
  --arg VALUE              Argument of the job's program, after the ARGS given
                           after "--"; repeat for more. Without "--", the
                           arguments go to the program found by convention.
                           Write --arg=VALUE for a value that starts with "-"
  --timeout SECONDS        Wall-clock limit for building and running the job
                           (default or 0: the operator's default, 300 s unless changed)
  --input FILE             Send the file's bytes, at most 1 MiB, to the job's
                           standard input; "-" sends this command's standard input
  --idempotency-key KEY    Key that makes a repeated submit return the first job
                           instead of a new one (default: a random UUID)
  --network                Ask for network access; the job fails unless the
                           worker's operator allows it
  --memory SIZE            Memory limit of the job, such as 256MiB or 2GiB, at least
                           1MiB (default or 0: the operator's, 512 MiB unless changed)
  --cpu PERCENT            CPU share in percent of one core; 200 is two cores
                           (default or 0: the operator's, 100 unless changed)
  --pids N                 Processes and threads at once, at least 8
                           (default or 0: the operator's, 256 unless changed)
  --open-files N           Open files per process, at least 16
                           (default or 0: the operator's, 1024 unless changed)
  --file-size SIZE         Largest file the job may write
                           (default or 0: the operator's, 256 MiB unless changed)
  --disk SIZE              Disk the job folder may use, checkout included, at
                           least 1MiB (default or 0: the operator's, 1 GiB unless changed);
                           measured every 0.5 s and when each step ends
  --max-attempts N         Attempts in all, the first included (default or 0:
                           the operator's, 3 unless changed). Without
                           --retry-failed, only failures of the platform, such
                           as a lost worker, start another attempt
  --retry-failed           Also start another attempt when the job's own program
                           fails: a non-zero exit, a signal, a timeout or a limit
  --wait                   Follow the job until it ends: its standard output goes
                           to stdout, its standard error to stderr, and the job id
                           to stderr. A progress line shows on a terminal until
                           the first output. Ctrl-C stops following, but the
                           job keeps running
  --json                   Print the SubmitResponse as JSON. With --wait, print
                           the final ResultResponse instead of the output
${serverOption}

${jobExitCodes}
  130                   also on Ctrl-C while following
`,
  status: `Usage: faas status JOB_ID [OPTIONS]

Prints the job's record: state, phase, attempt, times and error.

Options:
  --json                   Print the StatusResponse as JSON
${serverOption}
`,
  result: `Usage: faas result JOB_ID [OPTIONS]

Prints a finished job's standard output to stdout and its standard error to
stderr, and exits with the job's exit code. The worker keeps the first 1 MiB
of each stream by default; "faas logs" prints the whole output, which the
worker stores up to the output limit (64 MiB by default).

Options:
  --json                   Print the ResultResponse as JSON
${serverOption}

${jobExitCodes}
`,
  logs: `Usage: faas logs JOB_ID [OPTIONS]

Prints the job's output as the job wrote it: standard output chunks to stdout
and standard error chunks to stderr.

Options:
  -f, --follow             Keep printing new output until the job has ended
${serverOption}
`,
  scale: `Usage: faas scale [OPTIONS]

Prints the autoscaler's latest decision: desired, current and needed
workers, the queue metrics behind it and the reason, then the most recent
changes of the desired count. Needs the faas-admin role.

Options:
  --events N               Print the N most recent changes (default 10)
  --json                   Print the decision and the events as JSON
${serverOption}
`,
  list: `Usage: faas list [OPTIONS]

Prints a table of your jobs, newest first: id, state, phase, attempt, creation
time (UTC) and repository. An admin gets every user's jobs, with an OWNER
column when they belong to more than one user. Requests every page unless
--limit is given.

Options:
  --state STATE            Only jobs in STATE: queued, running, succeeded,
                           failed, timed_out or cancelled
  --limit N                Print at most N jobs. When more are left, the command
                           that prints the next N follows on stderr
  --page-token TOKEN       Start after the jobs of an earlier "list --limit",
                           with the token it printed (nextPageToken in JSON);
                           without --limit, every job after it is printed
  --json                   Print the jobs as one ListResponse in JSON
${serverOption}
`,
  watch: `Usage: faas watch JOB_ID [OPTIONS]

Prints one line per change of the job: time, state, phase and attempt, and
ends after a final state with the job's exit code, as 'faas result' does;
for a job that did not succeed, the reason follows on stderr.
TIME is when the scheduler stored the change, also for changes made before
the command started. A progress line shows on stderr while stderr is a
terminal.

Options:
  --json                   Print each WatchResponse as one line of JSON
${serverOption}
`,
  cancel: `Usage: faas cancel JOB_ID [OPTIONS]

Cancels the job. A queued job is cancelled at once, and a running job is stopped
by its worker soon after.

Options:
  --reason TEXT            Note stored with the cancellation, at most 256 characters
  --json                   Print the CancelResponse as JSON
${serverOption}
`,
  login: `Usage: faas login [--issuer URL] [--client-id ID]
       faas login --client-id ID --client-secret-file FILE [--issuer URL]

Logs in at the OpenID Provider and stores the tokens in credentials.json,
readable by you only (mode 0600), in FAAS_CONFIG_DIR, else
$XDG_CONFIG_HOME/faas, else ~/.config/faas.

Without --client-secret-file, it uses the device authorization grant: it prints
a URL and a code on stderr and waits until you approve the request in a
browser, or until the code expires. The stored refresh token renews the access
token; the provider replaces it on every use, and the file keeps the newest.

With --client-secret-file, it uses the client credentials grant of a
confidential client, such as a service account. The file stores the absolute
path of FILE, never the secret, and commands read FILE again to get a new
token when the old one expires. Keep FILE in place and readable.

Options:
  --issuer URL                Issuer URL of the provider (default: FAAS_ISSUER,
                              else http://127.0.0.1:50080/realms/faas). Plain
                              http is accepted only for loopback addresses
  --client-id ID              OAuth client id (default: faas-cli, the public
                              client with the device authorization grant)
  --client-secret-file FILE   File with the secret of client ID; surrounding
                              white space is ignored. Requires --client-id
  -h, --help                  Show this help
`,
  logout: `Usage: faas logout

Deletes credentials.json and revokes its refresh token at the provider's
revocation endpoint, when the provider lists one. A failed revocation prints a
warning, and the command still succeeds. FAAS_TOKEN is not affected.

Options:
  -h, --help               Show this help
`,
  whoami: `Usage: faas whoami [--json]

Prints the user (preferred_username), subject (sub), realm roles
(realm_access.roles), client (azp), issuer (iss) and expiry (exp) of the token
that job commands would send: FAAS_TOKEN when set, else the stored token,
renewed first when it expires within 30 s.

The claims are decoded without verifying the token's signature. They show what
the token states; only the gateway decides whether it accepts the token.

Options:
  --json                   Print the fields as a JSON object
  -h, --help               Show this help
`,
  token: `Usage: faas token

Prints the access token that job commands would send, on one line: FAAS_TOKEN
when set, else the stored token, renewed first when it expires within 30 s.
Give it to another client, as in FAAS_TOKEN=$(faas token) in a script, or as
the token of FaasClient. A token from the local stack's provider lasts
5 minutes; run the command again for a new one.

Options:
  -h, --help               Show this help
`,
  help: `Usage: faas help [COMMAND]

Shows the list of commands, or the options of COMMAND.
`,
};

/** Returns the help text of a command, or the overview when `topic` is unset. */
export function helpText(topic?: CommandName): string {
  return topic === undefined ? overview : commandHelp[topic];
}
