/*
 * The table of mounts (fs/mountinfo.c): parsing /proc/self/mountinfo, and
 * the mount a path lies in, with bind mounts of a file system and of one
 * of its directories, a mount inside a bind mount, stacked mounts, a mount
 * hidden under another, a mount of "/" itself and escaped names.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "bltutil.h"

/* 0:40 is a FUSE file system: mounted at /mnt/kv, bound at /tmp/other
 * (with a tmpfs mounted inside), its directory sub bound at "/tmp/sub dir",
 * and a removed directory of it still bound at /tmp/gone.  /opt has a
 * tmpfs stacked over another one, which hides a mount of the first.  The
 * root of a bind mount of a namespace (ip netns) is no path. */
static const char table[] =
    "1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
    "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
    "30 1 0:40 / /mnt/kv rw,nosuid,nodev - fuse.bltfs /s.blt "
    "rw,user_id=0,group_id=0\n"
    "31 1 0:40 / /tmp/other rw - fuse.bltfs /s.blt rw\n"
    "32 1 0:40 /sub /tmp/sub\\040dir rw shared:5 master:2 - fuse.bltfs "
    "/my\\040s.blt rw\n"
    "33 31 0:50 / /tmp/other/nested rw - tmpfs tmpfs rw\n"
    "34 1 0:51 / /opt rw - tmpfs tmpfs rw\n"
    "35 34 0:52 / /opt rw - tmpfs tmpfs rw\n"
    "36 34 0:40 / /opt/hidden rw - fuse.bltfs /s.blt rw\n"
    "37 1 0:40 /gone//deleted /tmp/gone rw - fuse.bltfs /s.blt rw\n"
    "38 1 0:4 net:[4026532283] /run/netns/x rw - nsfs nsfs rw\n";

static struct mountinfo *
parse(const char *text)
{
	struct mountinfo *mi;
	char *copy = strdup(text);

	ck_assert_ptr_nonnull(copy);
	ck_assert_int_eq(mountinfo_parse(copy, &mi), 0);
	return mi;
}

/* The number of the mount path lies in, or -1 for none. */
static int
find_id(const struct mountinfo *mi, const char *path)
{
	const struct mountinfo_entry *m = mountinfo_find(mi, path);

	return m != NULL ? m->id : -1;
}

/* The mount path lies in, which must be mount id. */
static const struct mountinfo_entry *
find_mount(const struct mountinfo *mi, const char *path, int id)
{
	const struct mountinfo_entry *m = mountinfo_find(mi, path);

	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->id, id);
	return m;
}

START_TEST(paths_lie_in_the_mount_on_top_of_them)
{
	struct mountinfo *mi = parse(table);

	ck_assert_int_eq(find_id(mi, "/"), 1);
	ck_assert_int_eq(find_id(mi, "/etc/passwd"), 1);
	ck_assert_int_eq(find_id(mi, "/mnt/kv"), 30);
	ck_assert_int_eq(find_id(mi, "/mnt/kv/a/b"), 30);
	ck_assert_int_eq(find_id(mi, "/mnt/kvx"), 1);
	ck_assert_int_eq(find_id(mi, "/mnt"), 1);
	ck_assert_int_eq(find_id(mi, "/run/netns/x"), 38);
	mountinfo_free(mi);
}
END_TEST

START_TEST(bind_mounts_show_their_file_system_and_directory)
{
	struct mountinfo *mi = parse(table);
	const struct mountinfo_entry *m;

	m = find_mount(mi, "/tmp/other/a", 31);
	ck_assert(m->dev == makedev(0, 40));
	ck_assert_str_eq(m->root, "/");
	ck_assert_str_eq(m->point, "/tmp/other");
	ck_assert_str_eq(m->type, "fuse.bltfs");
	ck_assert_str_eq(m->source, "/s.blt");
	m = find_mount(mi, "/tmp/sub dir/x", 32);
	ck_assert_str_eq(m->root, "/sub");
	ck_assert_str_eq(m->point, "/tmp/sub dir");
	ck_assert_str_eq(m->source, "/my s.blt");
	ck_assert(!m->deleted);
	/* the other mounts of a file system: any but the one named */
	m = mountinfo_other(mi, makedev(0, 40), "/mnt/kv");
	ck_assert_ptr_nonnull(m);
	ck_assert_str_ne(m->point, "/mnt/kv");
	ck_assert_ptr_null(mountinfo_other(mi, makedev(0, 51), "/opt"));
	ck_assert_int_eq(find_id(mi, "/tmp/sub"), 1);
	m = find_mount(mi, "/tmp/gone/x", 37);
	ck_assert(m->deleted);
	mountinfo_free(mi);
}
END_TEST

START_TEST(a_mount_inside_a_bind_mount_is_another_file_system)
{
	struct mountinfo *mi = parse(table);
	const struct mountinfo_entry *m;

	m = find_mount(mi, "/tmp/other/nested/list", 33);
	ck_assert(m->dev == makedev(0, 50));
	ck_assert_int_eq(find_id(mi, "/tmp/other/nestedx"), 31);
	/* not under the mount point, where nothing is mounted inside */
	ck_assert_int_eq(find_id(mi, "/mnt/kv/nested/list"), 30);
	mountinfo_free(mi);
}
END_TEST

START_TEST(stacked_mounts_hide_what_is_under_them)
{
	struct mountinfo *mi = parse(table);

	ck_assert_int_eq(find_id(mi, "/opt"), 35);
	ck_assert_int_eq(find_id(mi, "/opt/x"), 35);
	ck_assert_int_eq(find_id(mi, "/opt/hidden/x"), 35);
	mountinfo_free(mi);
}
END_TEST

/* A mount of the whole file system that paths reach: /mnt/kv, not a bind
 * mount of its directory; none where the only one, /opt/kv, is under a
 * tmpfs stacked on /opt. */
START_TEST(the_whole_file_system_is_found_where_paths_reach_it)
{
	struct mountinfo *mi = parse(table);
	const struct mountinfo_entry *m;

	m = mountinfo_whole(mi, makedev(0, 40));
	ck_assert(m == mountinfo_find(mi, "/mnt/kv"));
	ck_assert_ptr_null(mountinfo_whole(mi, makedev(0, 99)));
	mountinfo_free(mi);
	mi = parse("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
	           "2 1 0:51 / /opt rw - tmpfs tmpfs rw\n"
	           "3 2 0:40 / /opt/kv rw - fuse.bltfs /s.blt rw\n"
	           "4 2 0:52 / /opt rw - tmpfs tmpfs rw\n"
	           "5 1 0:40 /sub /mnt/sub rw - fuse.bltfs /s.blt rw\n");
	ck_assert_ptr_null(mountinfo_whole(mi, makedev(0, 40)));
	mountinfo_free(mi);
}
END_TEST

START_TEST(a_mount_of_the_root_holds_every_path)
{
	struct mountinfo *mi = parse("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
	                             "2 1 0:40 / / rw - fuse.bltfs /s.blt rw\n"
	                             "3 2 0:41 / /proc rw - proc proc rw\n");

	ck_assert_int_eq(find_id(mi, "/"), 2);
	ck_assert_int_eq(find_id(mi, "/a/b"), 2);
	ck_assert_int_eq(find_id(mi, "/proc/self"), 3);
	mountinfo_free(mi);
}
END_TEST

START_TEST(a_table_without_a_root_finds_nothing)
{
	struct mountinfo *mi = parse("5 1 0:40 / /mnt rw - tmpfs tmpfs rw\n");

	ck_assert_ptr_null(mountinfo_find(mi, "/mnt/x"));
	mountinfo_free(mi);
	mi = parse("");
	ck_assert_ptr_null(mountinfo_find(mi, "/"));
	mountinfo_free(mi);
}
END_TEST

START_TEST(a_table_whose_parents_loop_ends)
{
	struct mountinfo *mi = parse("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
	                             "2 1 0:2 / /a rw - tmpfs t rw\n"
	                             "3 2 0:3 / /a rw - tmpfs t rw\n"
	                             "2 3 0:4 / /a rw - tmpfs t rw\n");

	ck_assert_int_ge(find_id(mi, "/a/b"), 2);
	mountinfo_free(mi);
}
END_TEST

START_TEST(lines_not_as_proc_says_are_refused)
{
	static const char *const bad[] = {"garbage\n",
	    "1 0 8:1 / / rw ext4 /dev/sda1 rw\n", /* no "-" */
	    "1 0 8:1 / / rw -\n",                 /* no type */
	    "x 0 8:1 / / rw - ext4 /dev/sda1 rw\n",
	    "1 0 8-1 / / rw - ext4 /dev/sda1 rw\n"};
	struct mountinfo *mi = (struct mountinfo *)1;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *copy = strdup(bad[i]);

		ck_assert_ptr_nonnull(copy);
		ck_assert_int_eq(mountinfo_parse(copy, &mi), -EINVAL);
		ck_assert_ptr_null(mi);
	}
}
END_TEST

START_TEST(the_table_of_this_process_reads)
{
	struct mountinfo *mi;

	ck_assert_int_eq(mountinfo_read(&mi), 0);
	ck_assert_ptr_nonnull(mountinfo_find(mi, "/"));
	mountinfo_free(mi);
}
END_TEST

static Suite *
mountinfo_suite(void)
{
	Suite *s = suite_create("mountinfo");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, paths_lie_in_the_mount_on_top_of_them);
	tcase_add_test(tc, bind_mounts_show_their_file_system_and_directory);
	tcase_add_test(tc, a_mount_inside_a_bind_mount_is_another_file_system);
	tcase_add_test(tc, stacked_mounts_hide_what_is_under_them);
	tcase_add_test(tc, the_whole_file_system_is_found_where_paths_reach_it);
	tcase_add_test(tc, a_mount_of_the_root_holds_every_path);
	tcase_add_test(tc, a_table_without_a_root_finds_nothing);
	tcase_add_test(tc, a_table_whose_parents_loop_ends);
	tcase_add_test(tc, lines_not_as_proc_says_are_refused);
	tcase_add_test(tc, the_table_of_this_process_reads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mountinfo_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
