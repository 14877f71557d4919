/* seccomp policies (libseccomp): kill the process by default and on a
 * foreign architecture. */
#ifndef UCSPI_TLSD_POLICY_H
#define UCSPI_TLSD_POLICY_H

/* Load the engine's allowlist.  NULL, or what failed. */
const char *policy_engine_load(void);

#endif
