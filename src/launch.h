/* The application launcher.  launch_main() is declared in conn.h. */
#ifndef UCSPI_TLSD_LAUNCH_H
#define UCSPI_TLSD_LAUNCH_H

/* Descriptor numbers the application gets in delayed mode. */
#define APP_CTL_FD 3
#define APP_READ_FD 4
#define APP_WRITE_FD 5

#endif
