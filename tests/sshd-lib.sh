# sshd-lib.sh: a private sshd on 127.0.0.1, for the tests and benchmarks
# of map over ssh.  Source it, then
#
#   sshd_start DIR || skip...
#
# makes a host key and a user key in DIR, starts sshd on a free port with
# a config that lets only that key in, and waits until a login works.  It
# sets SSH (the ssh command, without the host: "$SSH 127.0.0.1 CMD") and
# sshd_pid; sshd_stop kills it.  sshd also listens on ::1 when this
# machine has it: then sshd_ipv6 is 1.  It fails with the reason on stderr when
# sshd cannot start here (no sshd, not allowed to run one ...).
#
# The config says MaxStartups 10: as many logins at once as sshd's default
# lets in before it starts to drop them (10:30:100), but without its
# random early drop, so that a map that logs in more at once fails every
# time, not one time in three.
#
# The config says AcceptEnv SHLVL: `$SSH -o SetEnv=SHLVL=1` then starts
# the command's shell as a nested one, so bash does not read the user's
# ~/.bashrc, which Debian's bash reads for any command run through sshd.

sshd_pid=

sshd_start()
{
	sshd_dir=$1
	sshd_bin=$(command -v sshd || echo /usr/sbin/sshd)
	[ -x "$sshd_bin" ] || { echo "no sshd" >&2; return 1; }
	command -v ssh >/dev/null && command -v ssh-keygen >/dev/null ||
		{ echo "no ssh client" >&2; return 1; }
	ssh-keygen -q -t ed25519 -N '' -f "$sshd_dir/host_key" &&
		ssh-keygen -q -t ed25519 -N '' -f "$sshd_dir/user_key" &&
		cp "$sshd_dir/user_key.pub" "$sshd_dir/authorized_keys" ||
		return 1
	sshd_port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])') || return 1
	sshd_ipv6=
	grep -qi '^0\{31\}1 ' /proc/net/if_inet6 2>/dev/null && sshd_ipv6=1
	cat >"$sshd_dir/sshd_config" <<EOC
Port $sshd_port
ListenAddress 127.0.0.1
${sshd_ipv6:+ListenAddress ::1}
HostKey $sshd_dir/host_key
AuthorizedKeysFile $sshd_dir/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin yes
AcceptEnv SHLVL
MaxStartups 10
PidFile $sshd_dir/sshd.pid
LogLevel ERROR
EOC
	# sshd wants its privilege separation directory; as root we can make it
	[ "$(id -u)" != 0 ] || [ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd
	"$sshd_bin" -D -f "$sshd_dir/sshd_config" -E "$sshd_dir/sshd.log" &
	sshd_pid=$!
	SSH="ssh -F /dev/null -p $sshd_port -i $sshd_dir/user_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -T"
	sshd_try=0
	until $SSH 127.0.0.1 true 2>"$sshd_dir/ssh.err" </dev/null; do
		sshd_try=$((sshd_try + 1))
		sshd_state=$(sed 's/.*) //' "/proc/$sshd_pid/stat" 2>/dev/null)
		if [ $sshd_try -ge 100 ] || [ -z "$sshd_state" ] ||
		    [ "${sshd_state%% *}" = Z ]; then
			cat "$sshd_dir/sshd.log" "$sshd_dir/ssh.err" >&2
			echo "sshd does not start here" >&2
			sshd_stop
			return 1
		fi
		sleep 0.1 # sshd is starting: poll for its first login
	done
}

sshd_stop()
{
	[ -z "$sshd_pid" ] || kill "$sshd_pid" 2>/dev/null || :
	sshd_pid=
}
