/* Subcommands of the flexllm binary. Each returns the process exit status:
 * 0 on success, 2 for invalid options or input files, 1 for other failures. */
#ifndef FLEXLLM_CLI_CLI_H
#define FLEXLLM_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>

enum { FLX_EXIT_OK = 0, FLX_EXIT_FAILURE = 1, FLX_EXIT_BAD_INPUT = 2 };

int flx_cmd_generate(int argc, char **argv);
int flx_cmd_ppl(int argc, char **argv);
int flx_cmd_inspect(int argc, char **argv);
int flx_cmd_tokenize(int argc, char **argv);
int flx_cmd_synth(int argc, char **argv);
int flx_cmd_quantize(int argc, char **argv);
int flx_cmd_learn_rotations(int argc, char **argv);
int flx_cmd_estimate(int argc, char **argv);
int flx_cmd_dse(int argc, char **argv);

/* Option value parsers: print "flexllm CMD: invalid value ..." to stderr and
 * return -1 when text is not a number in [min, max]. */
int flx_parse_int(const char *cmd, const char *option, const char *text, long long min,
                  long long max, long long *out);
int flx_parse_float(const char *cmd, const char *option, const char *text, double min,
                    double max, double *out);
/* Reads a UTF-8 text file whole. Returns NULL after printing
 * "flexllm CMD: ..." with the path and the problem (unreadable, or the
 * offset of the first byte that is not UTF-8). Free the result. */
char *flx_cli_read_utf8_text(const char *cmd, const char *path, size_t *len);

/* Returns argv[*i + 1] and advances *i, or prints a missing-value error and
 * returns NULL. */
const char *flx_option_value(const char *cmd, int argc, char **argv, int *i);

#endif
