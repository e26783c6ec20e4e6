/*
 * The demo subcommand of the rlboard command: many worker processes, one
 * rate-limited API, and a comparison of the 429s they collect with and
 * without a board.
 */
#ifndef RLB_TOOLS_DEMO_H
#define RLB_TOOLS_DEMO_H

/*
 * Runs `rlboard demo`. argv[0] is the subcommand's name and the options
 * follow it. Returns the process exit status: 0, 64 for a usage error,
 * 130 when interrupted, or 1 for any other failure.
 */
int rlb_demo_main(int argc, char **argv);

#endif
