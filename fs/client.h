/*
 * The door of fs/client/: `bltfs ctl`, the client of a mount's control
 * interface.  It runs in a process of its own and talks to the daemon
 * only through the mount (the control directory, the ioctls of bltfs.h);
 * it shares no code with the daemon's other rooms.  Its insides are
 * fs/client/client-int.h's.
 */
#ifndef FS_CLIENT_H
#define FS_CLIENT_H

/* bltfs ctl MOUNT COMMAND [--wait] [--json]: argv[0] is "ctl".  Returns
 * the exit status (bltfs(1), EXIT STATUS). */
int client_main(int argc, char **argv);

#endif
