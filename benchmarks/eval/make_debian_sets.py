#!/usr/bin/env python3
"""Write (and check) the Debian-manual retrieval sets debian-en.jsonl and debian-zh.jsonl.

The questions live here, each with its kind and an "evidence" string: a short
piece of the expected page (usually a command or file name) that the answer
rests on. The JSONL files carry only {"question", "expected_source"}.

    python3 benchmarks/eval/make_debian_sets.py          # write both JSONL files
    python3 benchmarks/eval/make_debian_sets.py --check  # also verify against the installed pages

--check runs benchmarks/debian-docs.sh (which installs the Debian packages if
needed), then verifies that every expected_source is a listed page, that every
listed page has at least two questions, and that each evidence string occurs in
its expected page; it prints any other page of the same set that also contains
the evidence, so ambiguous questions stand out. Standard library only.

Kinds: "howto" (How do I ...?), "fact" (What/which ...?), "para" (paraphrased:
worded to avoid the page's own key terms, so lexical matching alone should not
find the page).
"""

from __future__ import annotations

import argparse
import collections
import html.parser
import json
import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
SCRIPT = HERE.parent / "debian-docs.sh"
DOC = pathlib.Path("/usr/share/doc")

KINDS = ("howto", "fact", "para")


def source(lang: str, page: str) -> str:
    """Map "ref:ch01" / "faq:choosing" to the path printed by debian-docs.sh."""
    book, name = page.split(":")
    if lang == "en":
        if book == "ref":
            return f"debian-reference-en/docs/{name}.en.html"
        return f"debian/FAQ/{name}.en.html"
    if book == "ref":
        return f"debian-reference-zh-cn/docs/{name}.zh-cn.html"
    return f"debian/FAQ/zh-cn/{name}.zh-cn.html"


# (page, kind, question, evidence)
EN = [
    # --- Debian Reference: preface ---
    (
        "ref:pr01",
        "fact",
        'What do the "V:" and "I:" figures printed next to package names in the Debian Reference measure, and how are they computed?',
        "total popcon submissions",
    ),
    (
        "ref:pr01",
        "para",
        "Where does the book give newcomers a short checklist of good habits, such as not working as the superuser without need and always keeping a spare boot stick at hand?",
        "Always have an alternative boot media",
    ),
    (
        "ref:pr01",
        "fact",
        "In the Debian Reference's command examples, what distinguishes a line meant for the root account from one meant for an ordinary user?",
        "command-in-root-account",
    ),
    (
        "ref:pr01",
        "fact",
        "In what unit are the package sizes listed in the Debian Reference given, and which field are they taken from?",
        "package size data is also presented",
    ),
    # --- Debian Reference ch01: GNU/Linux tutorials ---
    (
        "ref:ch01",
        "howto",
        "How can I jump to the third virtual console from a shell command instead of using a key combination?",
        "chvt 3",
    ),
    (
        "ref:ch01",
        "fact",
        "What effect does setting the sticky bit have on a world-writable directory such as /tmp?",
        "sticky bit",
    ),
    (
        "ref:ch01",
        "para",
        "Why is it considered safe on Debian to let newly created files be writable by their group by default?",
        "user private group",
    ),
    (
        "ref:ch01",
        "para",
        "I browse files in a two-pane text-mode file manager; how do I make my shell end up in the folder I was looking at when I quit it?",
        "mc.sh",
    ),
    (
        "ref:ch01",
        "fact",
        "What is the difference between a file's mtime, ctime and atime, and is ctime the time the file was created?",
        "ctime is not",
    ),
    (
        "ref:ch01",
        "para",
        "There is a file under the kernel's process pseudo-filesystem that looks as big as all my RAM; what is it and should I worry about the disk space?",
        "/proc/kcore",
    ),
    (
        "ref:ch01",
        "howto",
        "How do I substitute a regular expression across several files in place with perl while keeping a backup copy of each original?",
        "-i.bak",
    ),
    (
        "ref:ch01",
        "fact",
        'How is "one or more repetitions" written in a basic regular expression compared with an extended regular expression?',
        "r\\+",
    ),
    (
        "ref:ch01",
        "para",
        "My terminal seems frozen after I pressed a control key that pauses output; how do I resume it, and can that key be disabled?",
        "Ctrl-S",
    ),
    # --- Debian Reference ch02: package management ---
    (
        "ref:ch02",
        "howto",
        "How do I purge, in one go, the leftover configuration files of every package that was removed but never purged, using aptitude?",
        "aptitude purge '~c'",
    ),
    (
        "ref:ch02",
        "fact",
        "Which Pin-Priority value in /etc/apt/preferences makes APT install a version even when that means a downgrade?",
        "1001",
    ),
    ("ref:ch02", "howto", "How can I limit APT's download bandwidth to about 100 kB per second?", "Dl-Limit"),
    (
        "ref:ch02",
        "howto",
        "APT reports a GPG error with BADSIG when updating the package lists; what is the recommended way to fix it?",
        "BADSIG",
    ),
    (
        "ref:ch02",
        "para",
        "Before upgrading a machine that follows the unstable suite, how can I be warned automatically about serious known bugs in the packages I am about to get?",
        "apt-listbugs",
    ),
    (
        "ref:ch02",
        "para",
        "The file that records which packages are installed on my machine got corrupted; where can older copies of it be found to restore it?",
        "status-old",
    ),
    (
        "ref:ch02",
        "fact",
        "Which devscripts command reveals who actually uploaded a Debian source package?",
        "who-uploads",
    ),
    (
        "ref:ch02",
        "para",
        "My system no longer boots from its disk because of a broken package; how can I put an older .deb back into the installed system from the installer's rescue environment?",
        "--root /target",
    ),
    (
        "ref:ch02",
        "howto",
        "How do I install a newer version of a package from bullseye-backports on a stable system?",
        "-t bullseye-backports",
    ),
    (
        "ref:ch02",
        "para",
        "I compiled a program into /usr/local, but another package insists on a dependency that is therefore missing from the package database; how can I satisfy it with a placeholder?",
        "equivs",
    ),
    # --- Debian Reference ch03: system initialization ---
    (
        "ref:ch03",
        "fact",
        "Which kernel boot parameter interrupts the initramfs stage and gives a root shell before the real root filesystem is mounted?",
        "break=init",
    ),
    (
        "ref:ch03",
        "howto",
        "How do I make sshd start only when a connection arrives, using systemd socket activation?",
        "sshd.socket",
    ),
    (
        "ref:ch03",
        "para",
        "How can I find out which services made the machine slow to come up, ranked by how long each one took?",
        "systemd-analyze blame",
    ),
    (
        "ref:ch03",
        "fact",
        'What do the white, red and green dots in the output of "systemctl status" indicate?',
        'Red "●"',
    ),
    (
        "ref:ch03",
        "howto",
        "How do I restrict which kernel messages are printed on the console, for example to errors and worse?",
        "dmesg -n3",
    ),
    # --- Debian Reference ch04: authentication ---
    (
        "ref:ch04",
        "fact",
        'What does an encrypted password beginning with "$1$" in /etc/shadow indicate, and what do the day-count fields after it mean?',
        "$1$",
    ),
    ("ref:ch04", "howto", "How can I allow only members of the root group to use su?", "pam_wheel.so"),
    (
        "ref:ch04",
        "para",
        "If someone gets physical access to my hard disk, how could they bypass the superuser password, and what is the only real software defence?",
        "init=/bin/sh",
    ),
    ("ref:ch04", "fact", "Which port numbers do the TLS-protected versions of POP3 and LDAP use?", "636"),
    (
        "ref:ch04",
        "para",
        "Through which component do modern desktop applications ask a privileged helper to perform administrative tasks, and which user group does Debian allow by default?",
        "PolicyKit",
    ),
    # --- Debian Reference ch05: network setup ---
    ("ref:ch05", "fact", "Why does /etc/hosts on a Debian machine contain an entry for 127.0.1.1?", "127.0.1.1"),
    (
        "ref:ch05",
        "howto",
        "How do I configure a static IPv4 address with systemd-networkd, without any GUI tool?",
        "static.network",
    ),
    (
        "ref:ch05",
        "para",
        "How can I work out the largest packet my connection can carry without it being split into fragments?",
        "tracepath",
    ),
    (
        "ref:ch05",
        "fact",
        "Which network interfaces does NetworkManager leave alone so that it does not fight with ifupdown?",
        "/etc/network/interfaces",
    ),
    # --- Debian Reference ch06: network applications ---
    (
        "ref:ch06",
        "howto",
        "How do I set up exim4 to send mail through my provider's smarthost on port 587?",
        "dpkg-reconfigure exim4-config",
    ),
    (
        "ref:ch06",
        "fact",
        "Which file holds the default host name that Debian programs use for outgoing mail?",
        "/etc/mailname",
    ),
    (
        "ref:ch06",
        "para",
        "How can I power off a remote server over a secure shell session so that the command is not killed when my connection drops?",
        "at now",
    ),
    (
        "ref:ch06",
        "howto",
        "How do I log in to a remote host with an SSH key instead of typing the remote password?",
        "authorized_keys",
    ),
    (
        "ref:ch06",
        "para",
        "Which address do I open in a web browser to adjust the printing setup of my own machine?",
        "localhost:631",
    ),
    # --- Debian Reference ch07: GUI system ---
    (
        "ref:ch07",
        "para",
        "Is there a simple trick to tell whether a graphical application draws through the newer same-host display protocol or through the old network-capable one?",
        "xeyes",
    ),
    (
        "ref:ch07",
        "howto",
        "How do I run an X application on a remote host and have its window shown on my local desktop?",
        "ssh -q -X",
    ),
    (
        "ref:ch07",
        "fact",
        "Which sandbox does the Debian Reference suggest for running AppImage binaries, and which ones for Flathub and snapcraft apps?",
        "firejail",
    ),
    (
        "ref:ch07",
        "fact",
        "Which command-line tools show the default font match and the list of available fonts?",
        "fc-match",
    ),
    # --- Debian Reference ch08: I18N and L10N ---
    (
        "ref:ch08",
        "howto",
        "How do I compile the locale data I need and set the system-wide default locale?",
        "dpkg-reconfigure locales",
    ),
    (
        "ref:ch08",
        "fact",
        "What do the numbers in the abbreviations M17N, I18N and L10N stand for?",
        "multilingualization",
    ),
    (
        "ref:ch08",
        "para",
        "In a Chinese or Japanese environment, box and line characters come out too wide so my terminal columns no longer line up; how do I fix that in GNOME's terminal?",
        "Ambiguous-wide characters",
    ),
    (
        "ref:ch08",
        "howto",
        "How can I tell gettext-based programs to try Portuguese first, then Brazilian Portuguese, then Spanish for their messages?",
        "LANGUAGE",
    ),
    # --- Debian Reference ch09: system tips ---
    (
        "ref:ch09",
        "howto",
        "How do I get back to my screen session and the programs running in it after my SSH connection dropped?",
        "screen -r",
    ),
    (
        "ref:ch09",
        "para",
        "I deleted a file that a running program still has open; how can I get its contents back?",
        "/proc/4775/fd",
    ),
    (
        "ref:ch09",
        "fact",
        "Which keys pressed after Alt-SysRq sync and then remount all filesystems read-only, and how can that be triggered from an SSH session?",
        "sysrq-trigger",
    ),
    (
        "ref:ch09",
        "howto",
        "How do I mount a disk image file that contains a single partition using a loop device?",
        "losetup",
    ),
    ("ref:ch09", "howto", "How do I get smartd to watch my hard disk and warn about signs of failure?", "smartctl"),
    (
        "ref:ch09",
        "fact",
        "Which nice value gives a process the lowest scheduling priority, and which one the highest for root?",
        "nice -19",
    ),
    (
        "ref:ch09",
        "para",
        "The usual scratch directory is too small; how can I make well-behaved programs write their temporary files somewhere else?",
        "$TMPDIR",
    ),
    ("ref:ch09", "howto", "How do I encrypt a USB memory stick with dm-crypt/LUKS?", "luksFormat"),
    (
        "ref:ch09",
        "para",
        "What is the safe way to empty a log file that a program keeps writing to, instead of deleting it and creating a new one?",
        ":>file_to_be_cleared",
    ),
    (
        "ref:ch09",
        "para",
        "How can I try out the unstable suite in an isolated environment on my stable machine without rebooting?",
        "sbuild-createchroot",
    ),
    # --- Debian Reference ch10: data management ---
    (
        "ref:ch10",
        "howto",
        "How do I copy a directory tree to another host with rsync while keeping hard links, ACLs and extended attributes?",
        "rsync -aHAXSv",
    ),
    ("ref:ch10", "fact", "What is the largest single file that a FAT filesystem can hold?", "4GiB"),
    (
        "ref:ch10",
        "para",
        "Roughly how many years can data be expected to survive on write-once optical discs, on magnetic tape and on rewritable CDs?",
        "CD-RW",
    ),
    (
        "ref:ch10",
        "howto",
        "How do I store a LUKS passphrase in the GNOME keyring and feed it to a script instead of hard-coding it?",
        "secret-tool",
    ),
    (
        "ref:ch10",
        "para",
        "I deleted a branch by mistake; how do I locate the lost commits again and put them back on a branch?",
        "git reflog",
    ),
    ("ref:ch10", "fact", "Which Git command squashes a whole topic branch into a single commit?", "merge --squash"),
    # --- Debian Reference ch11: data conversion ---
    ("ref:ch11", "howto", "How can I check whether a text file is valid UTF-8?", "iconv -f utf8 -t utf8"),
    (
        "ref:ch11",
        "fact",
        "When converting old Japanese C sources from Shift-JIS to UTF-8, which encoding name should be given so that backslashes come out right?",
        "CP932",
    ),
    ("ref:ch11", "howto", "How do I merge two PDF files into one with Ghostscript?", "pdfwrite"),
    (
        "ref:ch11",
        "para",
        "My typesetting run fails with errors once the document grows big; which setting has to be raised?",
        "texmf.cnf",
    ),
    ("ref:ch11", "fact", "Which end-of-line codes do Unix, MS-DOS/Windows and classic Mac OS use?", "CR-LF"),
    # --- Debian Reference ch12: programming ---
    (
        "ref:ch12",
        "fact",
        "What does ${var:-string} expand to when var is unset, and how does ${var:=string} differ?",
        "${var:=string}",
    ),
    (
        "ref:ch12",
        "para",
        "Which conveniences of the big interactive shell should I avoid in scripts meant for the small system shell, and what tool flags them?",
        "checkbashisms",
    ),
    (
        "ref:ch12",
        "howto",
        "How do I get a backtrace of a crashed program from a core dump with gdb?",
        "ulimit -c unlimited",
    ),
    (
        "ref:ch12",
        "para",
        "I installed a program from source with ./configure and make install; how can I take it off the system again later?",
        "make uninstall",
    ),
    (
        "ref:ch12",
        "fact",
        "In a Makefile, what do the automatic variables $@, $< and $^ stand for?",
        "first prerequisite",
    ),
    (
        "ref:ch12",
        "howto",
        "How do I rebuild a Debian package so that debugging symbols are kept when no -dbgsym package exists for it?",
        "nostrip",
    ),
    # --- Debian Reference appendix ---
    ("ref:apa", "fact", "Who started the Debian Reference, and when was its version 2 released?", "2008"),
    (
        "ref:apa",
        "para",
        "Which earlier beginners' guides does this system administration book trace its tutorial material back to?",
        "Havoc Pennington",
    ),
    # --- FAQ ch1: definitions and overview ---
    (
        "faq:basic-defs",
        "fact",
        "How is the name Debian pronounced, and which two names was it formed from?",
        "Deb'-ee-en",
    ),
    (
        "faq:basic-defs",
        "para",
        "What is the relationship between this distribution and the foundation started by Richard Stallman?",
        "separate entity from the FSF",
    ),
    (
        "faq:basic-defs",
        "para",
        "What makes this distribution stand out from the others, for example can its parts be brought up to date without wiping the disk?",
        "without reformatting",
    ),
    # --- FAQ ch2: getting and installing ---
    (
        "faq:getting-debian",
        "fact",
        "Once a Debian version is released as stable, are its packages updated to newer upstream versions when security holes are found?",
        "backport the necessary fixes",
    ),
    (
        "faq:getting-debian",
        "para",
        "Why does my stable installation disc seem to contain links named after the development branches, and where on the disc is its real version recorded?",
        "/.disk/info",
    ),
    (
        "faq:getting-debian",
        "fact",
        "Apart from a CD or DVD, what other ways are there to boot the Debian installer?",
        "TFTP",
    ),
    # --- FAQ ch3: choosing a distribution ---
    (
        "faq:choosing",
        "para",
        "I follow testing and a package has been broken there for weeks; why do fixes already made in unstable take so long to reach me?",
        "XYZ-3.9",
    ),
    (
        "faq:choosing",
        "fact",
        "Which field of a line in /etc/apt/sources.list tells whether a machine follows stable, testing or unstable?",
        "indicates the Debian distribution the system is currently tracking",
    ),
    (
        "faq:choosing",
        "fact",
        "If my sources.list names bookworm rather than testing, what happens to my machine once bookworm is released?",
        "you will be tracking stable",
    ),
    (
        "faq:choosing",
        "para",
        "I installed a Debian-derived distribution such as Ubuntu and now want genuine Debian; can I just point it at Debian's repositories and upgrade?",
        "reinstall the operating system from scratch",
    ),
    # --- FAQ ch4: compatibility ---
    (
        "faq:compatibility",
        "fact",
        "In which release was support for the m68k architecture dropped?",
        "Etch (Debian 4.0)",
    ),
    (
        "faq:compatibility",
        "para",
        "Is it wise to unpack another distribution's package files directly onto my system, and where should such foreign software go instead?",
        "Alien",
    ),
    (
        "faq:compatibility",
        "fact",
        "Is Debian officially certified as POSIX-conformant, and why is that unlikely?",
        "certification costs",
    ),
    # --- FAQ ch13: contributing ---
    (
        "faq:contributing",
        "fact",
        "What is Software in the Public Interest, and how is it related to Debian?",
        "Software in the Public Interest",
    ),
    (
        "faq:contributing",
        "para",
        "I have a fast internet connection and spare disk space; how could I put them to use for the project?",
        "debian-admin@lists.debian.org",
    ),
    # --- FAQ ch11: customizing ---
    (
        "faq:customizing",
        "howto",
        "How do I make all programs on the system use the same paper size, for example A4?",
        "/etc/papersize",
    ),
    (
        "faq:customizing",
        "howto",
        "I want my own locally built login program to be used instead of the one from Debian's login package, without upgrades overwriting it; how?",
        "dpkg-divert --divert /bin/login.debian",
    ),
    (
        "faq:customizing",
        "para",
        'How can I make the system pick a window manager I compiled under /usr/local whenever programs ask for "the" window manager?',
        "wmaker-cvs",
    ),
    (
        "faq:customizing",
        "fact",
        "With traditional System V init, what do the leading K or S and the two-digit number in the names of the rc directory entries mean?",
        "scripts beginning with 'K'",
    ),
    # --- FAQ ch16: about the FAQ ---
    ("faq:faqinfo", "fact", "Who currently maintains the Debian FAQ?", "Javier Fernandez-Sanguino"),
    (
        "faq:faqinfo",
        "howto",
        "How do I send corrections or suggestions for the Debian FAQ?",
        "doc-debian@packages.debian.org",
    ),
    # --- FAQ ch6: the archives ---
    ("faq:ftparchives", "fact", "Which Toy Story character gave the codename bookworm?", "built-in flashlight"),
    (
        "faq:ftparchives",
        "para",
        "Why do releases get toy nicknames while they are being developed, instead of version numbers?",
        "make easier the mirroring",
    ),
    (
        "faq:ftparchives",
        "howto",
        "How can I find out in which directory of the archive's pool a given source package is stored?",
        "apt-cache showsrc",
    ),
    (
        "faq:ftparchives",
        "fact",
        'What is the "incoming" directory of the archive, and should I install packages from it?',
        "incoming",
    ),
    (
        "faq:ftparchives",
        "para",
        'Why do packages whose names begin with "lib" get a longer subdirectory prefix in the archive instead of being grouped under their first letter like the rest?',
        "pool/main/libp/libpaper/",
    ),
    # --- FAQ ch10: kernel ---
    ("faq:kernel", "howto", "How do I safely remove an old kernel image package?", "dpkg --purge linux-image-NNN"),
    (
        "faq:kernel",
        "para",
        "Can I put a plain upstream kernel on this system without any distribution-specific patches, and what is the one usual gotcha?",
        "linux-libc-dev",
    ),
    # --- FAQ ch15: next release ---
    (
        "faq:nextrelease",
        "fact",
        "What is Debian doing to harden its packages against attacks such as stack smashing?",
        "hardening build flags",
    ),
    (
        "faq:nextrelease",
        "para",
        "Can the system installer be started from a running copy of Windows, without changing firmware boot settings?",
        "without the need to change BIOS settings",
    ),
    # --- FAQ ch7: package management basics ---
    (
        "faq:pkg-basics",
        "fact",
        "What does dpkg do with a package's registered configuration files in /etc during an upgrade, and how can I list which files those are?",
        "Conffiles:",
    ),
    (
        "faq:pkg-basics",
        "para",
        'Why can any one of several different web browsers fulfil a program\'s requirement for "a browser" without the program naming a specific one?',
        "www-browser",
    ),
    (
        "faq:pkg-basics",
        "fact",
        "Which package priority is installed by default when nothing else is selected, and does it include an SSH server?",
        "OpenSSH",
    ),
    (
        "faq:pkg-basics",
        "para",
        "Why was a stricter kind of dependency introduced that stops a package from even being unpacked until its prerequisites are in place?",
        "a.out format to ELF",
    ),
    (
        "faq:pkg-basics",
        "fact",
        'What do the package "want" states unknown, install, remove, purge and hold mean?',
        "the user has never indicated whether the package is wanted",
    ),
    # --- FAQ ch8: package management tools ---
    (
        "faq:pkgtools",
        "howto",
        "How do I list or unpack the contents of a .deb file into a temporary directory without installing it?",
        "dpkg-deb --extract",
    ),
    (
        "faq:pkgtools",
        "para",
        "When I remove a game, why does its large companion data package stay behind on the system?",
        "foo-data",
    ),
    (
        "faq:pkgtools",
        "fact",
        "What does tasksel install, and which extra task gets added automatically when a language other than English is chosen during installation?",
        "a language other than English",
    ),
    ("faq:pkgtools", "fact", 'Which apt subcommand replaces "apt-cache policy package"?', "apt list -a"),
    # --- FAQ ch14: redistributing ---
    (
        "faq:redistributing",
        "fact",
        "May I produce and sell Debian CDs, and do I have to pay the project anything?",
        "You do not have to pay us anything",
    ),
    (
        "faq:redistributing",
        "para",
        "I am building a specialised product for a niche industry; may I use this operating system as its foundation and put my own applications on top?",
        "vertical market",
    ),
    # --- FAQ ch5: available software ---
    (
        "faq:software",
        "para",
        "My build fails because the linker cannot find a library that is clearly installed; which extra package am I missing?",
        "libfoo-dev",
    ),
    ("faq:software", "fact", "Are Dan J. Bernstein's programs such as qmail and djbdns available in Debian?", "djbdns"),
    (
        "faq:software",
        "fact",
        "Where on an installed system are the upstream authors of a package credited?",
        "/usr/share/doc/PACKAGE/copyright",
    ),
    # --- FAQ ch12: support ---
    ("faq:support", "howto", "How do I subscribe to a Debian mailing list by e-mail?", "-request@lists.debian.org"),
    (
        "faq:support",
        "para",
        "How can I write directly to the person responsible for one particular package?",
        "xyz@packages.debian.org",
    ),
    (
        "faq:support",
        "fact",
        "What advantage do GNU info documents have over traditional man pages?",
        "hypertext system",
    ),
    # --- FAQ ch9: keeping up to date ---
    (
        "faq:uptodate",
        "howto",
        "What line do I add to dpkg's configuration file to log all its invocations, and how should that log be rotated?",
        "/etc/dpkg/dpkg.cfg",
    ),
    (
        "faq:uptodate",
        "para",
        "Is there a service I can put in my APT sources that automatically sends me to a nearby, fast download server?",
        "httpredir.debian.org",
    ),
    (
        "faq:uptodate",
        "fact",
        "Does cron-apt install upgrades by itself, and is unattended upgrading advisable on testing or unstable?",
        "cron-apt",
    ),
]


ZH = [
    # --- Debian 参考手册：前言 ---
    (
        "ref:pr01",
        "fact",
        "Debian 参考手册中软件包旁边标注的 “V:” 和 “I:” 两个数字分别表示什么，是怎样计算出来的？",
        "以“V:”开头表示“votes”",
    ),
    (
        "ref:pr01",
        "para",
        "这本书给刚上手的人列了哪些好习惯，比如不必要时别以超级用户身份操作、身边常备一个能启动系统的救援介质？",
        "对新用户的一些提醒",
    ),
    ("ref:pr01", "howto", "发现 Debian 参考手册内容有误时，作者希望读者怎样提交问题和修改建议？", "diff -u"),
    # --- 第 1 章 GNU/Linux 教程 ---
    (
        "ref:ch01",
        "howto",
        "怎样新建一个练习用的账户 fish，练习结束后再连同它的主目录一起删除？",
        "deluser --remove-home fish",
    ),
    ("ref:ch01", "fact", "硬链接和符号链接有什么区别？为什么符号链接的权限总是显示为 rwxrwxrwx？", "rwxrwxrwx"),
    (
        "ref:ch01",
        "para",
        "进程伪文件系统里有个文件看上去和整个内存一样大，它是什么，会不会占用我的磁盘空间？",
        "/proc/kcore",
    ),
    ("ref:ch01", "howto", "怎样让 bash 新建的文件默认对同组用户可写？", "umask 002"),
    (
        "ref:ch01",
        "para",
        "想让一个普通账户不借助超级用户权限就能直接操作串口、拨号上网，应该把它加入哪个系统组？",
        "dialout",
    ),
    (
        "ref:ch01",
        "fact",
        "基本正则表达式（BRE）和扩展正则表达式（ERE）在表示“一次或多次重复”时写法有什么不同？",
        "r\\+",
    ),
    ("ref:ch01", "howto", "在 shell 中用 while read 逐行解析 /etc/passwd 时，怎样让它按冒号拆分字段？", "IFS=':'"),
    ("ref:ch01", "para", "终端突然不再显示输出，好像是误按了一个让屏幕暂停的控制键，该怎么让它恢复？", "Ctrl-Q"),
    # --- 第 2 章 Debian 软件包管理 ---
    ("ref:ch02", "howto", "如何用 aptitude 一次性清除所有“已删除但仍残留配置文件”的软件包？", "aptitude purge '~c'"),
    ("ref:ch02", "fact", "在 aptitude 的全屏界面中，“=” 键和 “_” 键分别对软件包做什么操作？", "将软件包设为保持状态"),
    ("ref:ch02", "howto", "怎样限制 APT 的下载速度，比如限制在每秒 100 KB 左右？", "Dl-Limit"),
    ("ref:ch02", "howto", "更新软件包列表时 APT 报出带 BADSIG 的 GPG 错误，应该怎么处理？", "BADSIG"),
    (
        "ref:ch02",
        "para",
        "记录本机已安装哪些软件包的那个数据库文件损坏了，到哪里能找到它的旧副本来恢复？",
        "status-old",
    ),
    ("ref:ch02", "fact", "devscripts 里哪个命令可以查出一个源码包实际是由谁上传的？", "who-uploads"),
    (
        "ref:ch02",
        "para",
        "有几个软件包总是被别的软件包顺带拉进系统，我想让 APT 永远不要自动装它们，该怎么写配置？",
        "Pin-Priority: -1",
    ),
    (
        "ref:ch02",
        "howto",
        "想在 stable 系统上用到 unstable 里某个软件的新版本，又不想引发大量依赖升级，怎样用源码包在本机重新构建？",
        "+bp1",
    ),
    (
        "ref:ch02",
        "para",
        "系统已经无法从硬盘启动，怎样借助安装光盘的救援模式把某个旧版本的 .deb 装回硬盘上的系统？",
        "--root /target",
    ),
    # --- 第 3 章 系统初始化 ---
    ("ref:ch03", "fact", "想在 initramfs 阶段中断启动过程并得到一个 shell，应该在内核启动参数里加什么？", "break=init"),
    ("ref:ch03", "para", "怎样找出开机时哪些服务最拖慢启动，并按耗时排序列出来？", "systemd-analyze blame"),
    (
        "ref:ch03",
        "howto",
        "如何只查看某个服务在本次启动以来的日志，并像 tail -f 那样持续跟踪？",
        "journalctl -b -u $unit -f",
    ),
    (
        "ref:ch03",
        "fact",
        "systemd 的单元配置文件从哪几个目录加载，哪一个目录用于覆盖已安装的默认配置？",
        "/etc/systemd/system",
    ),
    ("ref:ch03", "howto", "如何把 sshd 改为有连接到来时才按需启动？", "sshd.socket"),
    # --- 第 4 章 认证和访问控制 ---
    ("ref:ch04", "fact", "/etc/shadow 中加密密码以 “$1$” 开头代表什么？后面那些以天数表示的字段各是什么意思？", "$1$"),
    ("ref:ch04", "howto", "如何只允许 root 组的成员使用 su 命令？", "pam_wheel.so"),
    (
        "ref:ch04",
        "para",
        "如果有人能直接接触到我的硬盘，他能怎样绕过超级用户密码？有什么软件手段可以真正防住？",
        "init=/bin/sh",
    ),
    ("ref:ch04", "fact", "POP3 和 LDAP 的加密版本服务分别使用哪个端口号？", "636"),
    # --- 第 5 章 网络设置 ---
    ("ref:ch05", "fact", "为什么 Debian 的 /etc/hosts 里会有一行 127.0.1.1？", "127.0.1.1"),
    ("ref:ch05", "howto", "不使用图形界面时，怎样用 systemd-networkd 为有线网卡配置 DHCP？", "dhcp.network"),
    ("ref:ch05", "para", "有什么办法测出我的网络链路一次最多能传送多大的数据包而不被分片？", "tracepath"),
    ("ref:ch05", "fact", "ifconfig、route、arp 这些老命令在 iproute2 中分别对应什么命令？", "ip neigh"),
    # --- 第 6 章 网络应用 ---
    (
        "ref:ch06",
        "howto",
        "怎样配置 exim4，让邮件通过 ISP 的 smarthost 的 587 端口发出？",
        "dpkg-reconfigure exim4-config",
    ),
    ("ref:ch06", "para", "通过 SSH 关闭远程服务器时，怎样保证连接断开后关机命令不会跟着被终止？", "at now"),
    ("ref:ch06", "fact", "/etc/mailname 文件起什么作用，对没有可解析主机名的笔记本应该怎样设置？", "/etc/mailname"),
    ("ref:ch06", "para", "想在浏览器里调整本机的打印设置，应该访问哪个地址？", "localhost:631"),
    ("ref:ch06", "howto", "如何设置 ssh-agent，让之后的 scp 等操作不用每次都输入私钥口令？", "ssh-add"),
    # --- 第 7 章 GUI 系统 ---
    (
        "ref:ch07",
        "para",
        "有没有简单的办法看出一个窗口程序是走新的仅限本机的显示协议，还是走老的可联网的那种协议？",
        "xeyes",
    ),
    ("ref:ch07", "howto", "如何让 chroot 环境中的 gitk 这类 X 程序显示到本机桌面上？", "si:localuser:root"),
    ("ref:ch07", "fact", "Debian 参考手册建议用什么来运行来自 Flathub 的程序，AppImage 又该用什么？", "firejail"),
    # --- 第 8 章 国际化和本地化 ---
    ("ref:ch08", "howto", "如何编译所需的 locale 数据，并设置系统全局默认的 locale？", "dpkg-reconfigure locales"),
    ("ref:ch08", "fact", "在 GNOME 桌面上输入中文通常用哪个输入法框架？还有什么替代选择？", "fcitx5"),
    ("ref:ch08", "para", "U 盘用的是 FAT 格式，手动挂载后非英文文件名显示成乱码，应该怎么处理？", "CP437"),
    ("ref:ch08", "fact", "缩写 M17N、I18N 和 L10N 中间的数字是什么意思？", "M17N"),
    # --- 第 9 章 系统技巧 ---
    ("ref:ch09", "howto", "SSH 断线之后，怎样重新接回之前的 screen 会话以及里面正在运行的程序？", "screen -r"),
    ("ref:ch09", "para", "误删了一个仍被某个程序打开着的文件，怎样把它的内容找回来？", "/proc/4775/fd"),
    (
        "ref:ch09",
        "fact",
        "按下 Alt-SysRq 之后再按哪些键可以同步并把所有文件系统重新挂载为只读？从 SSH 里怎样触发？",
        "sysrq-trigger",
    ),
    ("ref:ch09", "howto", "怎样挂载一个含有多个分区的磁盘镜像文件中的某一个分区？", "kpartx"),
    ("ref:ch09", "para", "怎么让系统持续监控硬盘的健康状况，在硬盘快要坏掉之前提醒我？", "smartctl"),
    ("ref:ch09", "fact", "nice 值 19 和 -20 分别对应什么样的调度优先级？", "nice -19"),
    ("ref:ch09", "para", "默认的临时目录空间不够用时，怎样让程序把临时文件写到别的地方？", "$TMPDIR"),
    ("ref:ch09", "howto", "如何用 dm-crypt/LUKS 加密一个 U 盘？", "cryptsetup luksFormat"),
    (
        "ref:ch09",
        "para",
        "想清空一个程序正在写入的日志文件，为什么不该先删掉再新建？稳妥的做法是什么？",
        ":>file_to_be_cleared",
    ),
    ("ref:ch09", "howto", "怎样把 qcow2 之类虚拟磁盘镜像里的分区挂载到宿主机上？", "qemu-nbd"),
    # --- 第 10 章 数据管理 ---
    ("ref:ch10", "howto", "如何用 rsync 把整个目录复制到远程主机，同时保留硬链接、ACL 和扩展属性？", "rsync -aHAXSv"),
    ("ref:ch10", "fact", "FAT 文件系统上单个文件最大可以有多大？", "4GiB"),
    ("ref:ch10", "para", "一次性写入的光盘、磁带和可擦写光盘，大概分别能把数据保存多少年？", "CD-RW"),
    ("ref:ch10", "para", "不小心删掉了一个分支，怎样找回丢失的那些提交？", "git reflog"),
    ("ref:ch10", "howto", "怎样把 LUKS 口令保存在 GNOME 钥匙环里，并在脚本中取出来使用？", "secret-tool"),
    ("ref:ch10", "fact", "GnuPG 的信任码 “m”、“f” 和 “u” 分别表示什么？", "最终信任"),
    # --- 第 11 章 数据转换 ---
    ("ref:ch11", "howto", "如何检查一个文本文件是不是合法的 UTF-8 编码？", "iconv -f utf8 -t utf8"),
    ("ref:ch11", "fact", "Unix、MS-DOS/Windows 和老式 Macintosh 的换行符分别是什么？", "CR-LF"),
    ("ref:ch11", "para", "文档越写越长之后排版时开始报错，需要调大哪里的什么参数？", "texmf.cnf"),
    ("ref:ch11", "howto", "如何用 Ghostscript 把两个 PDF 文件合并成一个？", "pdfwrite"),
    ("ref:ch11", "howto", "用 vim 打开一个老式日文 Windows 文本文件时，怎样指定它的编码和换行格式？", "++enc=CP932"),
    # --- 第 12 章 编程 ---
    ("ref:ch12", "fact", "变量未设置时，${var:-string} 和 ${var:=string} 的结果有什么区别？", "${var:=string}"),
    (
        "ref:ch12",
        "para",
        "给系统默认的精简 shell 写脚本时，有什么工具能揪出只有功能更丰富的交互式 shell 才支持的写法？",
        "checkbashisms",
    ),
    ("ref:ch12", "howto", "程序崩溃后，怎样借助 core 文件用 gdb 得到回溯信息？", "ulimit -c unlimited"),
    ("ref:ch12", "para", "用 ./configure 和 make install 从源码装进系统的软件，以后要怎么卸掉？", "make uninstall"),
    ("ref:ch12", "fact", "Makefile 中的自动变量 $@、$< 和 $^ 各代表什么？", "$^"),
    ("ref:ch12", "fact", "Meson 构建系统使用什么作为它的后端？", "Ninja"),
    # --- 附录 ---
    ("ref:apa", "fact", "Debian 参考手册最初是谁编写的？它的第 2 版是哪一年发布的？", "2008"),
    ("ref:apa", "para", "这本系统管理手册的教程内容最早可以追溯到哪些前身文档？", "Havoc Pennington"),
    # --- FAQ 第 1 章 定义和概览 ---
    ("faq:basic-defs", "fact", "Debian 这个名字怎么读？它是由哪两个人名组合而成的？", "Deb'-ee-en"),
    ("faq:basic-defs", "para", "这个发行版与理查德·斯托曼倡导创立的那个基金会是什么关系？", "独立实体"),
    ("faq:basic-defs", "para", "和其他发行版相比它有哪些过人之处？比如系统更新时是否需要清空磁盘重装？", "重新格式化"),
    # --- FAQ 第 2 章 获取和安装 ---
    (
        "faq:getting-debian",
        "fact",
        "一个版本作为稳定版发布以后，发现安全漏洞时，软件会被升级到新的上游版本吗？",
        "向后移植",
    ),
    ("faq:getting-debian", "fact", "除了光盘以外，还有哪些方式可以引导 Debian 安装程序？", "TFTP"),
    # --- FAQ 第 3 章 选择发布版本 ---
    (
        "faq:choosing",
        "para",
        "我用的是 testing，有个软件包坏了好几周，为什么 unstable 里早已做好的修复迟迟过不来？",
        "XYZ-3.9",
    ),
    (
        "faq:choosing",
        "fact",
        "sources.list 里写的是 bookworm 而不是 testing，等 bookworm 正式发布后我的系统会怎样？",
        "您就将跟踪 stable",
    ),
    (
        "faq:choosing",
        "para",
        "我装的是 Ubuntu 之类的衍生发行版，现在想换成真正的 Debian，能不能直接改软件源升级过去？",
        "从头重新安装",
    ),
    ("faq:choosing", "fact", "从管理员的角度看，哪个发布版本需要的维护工作最少？", "极少的维护"),
    # --- FAQ 第 4 章 兼容性 ---
    ("faq:compatibility", "fact", "Debian 是在哪个版本放弃对 m68k 架构的支持的？", "m68k"),
    (
        "faq:compatibility",
        "para",
        "能不能把其他发行版的软件包直接解包到我的系统上？这类外来软件最好放在哪里？",
        "Alien",
    ),
    ("faq:compatibility", "fact", "Debian 有没有获得官方的 POSIX 兼容认证？为什么不太可能获得？", "认证费用"),
    # --- FAQ 第 13 章 贡献 ---
    ("faq:contributing", "fact", "Software in the Public Interest（SPI）是什么样的组织，和 Debian 有什么关系？", "SPI"),
    (
        "faq:contributing",
        "para",
        "我有高速网络和富余的磁盘空间，可以怎样用它们帮助这个项目？",
        "debian-admin@lists.debian.org",
    ),
    # --- FAQ 第 11 章 定制系统 ---
    ("faq:customizing", "howto", "怎样让系统中所有程序统一使用同一种纸张大小，比如 A4？", "/etc/papersize"),
    (
        "faq:customizing",
        "howto",
        "想用自己编译的 login 程序代替 Debian login 软件包提供的那个，又不想在升级时被覆盖，该怎么做？",
        "dpkg-divert --divert /bin/login.debian",
    ),
    (
        "faq:customizing",
        "fact",
        "传统 System V init 方式下，rc 目录里各链接文件名开头的 K、S 以及两位数字分别是什么意思？",
        "/etc/rcN.d/",
    ),
    (
        "faq:customizing",
        "para",
        "怎样全局修改 X 程序的默认资源设置，并让修改在升级后仍然保留？",
        "/etc/X11/app-defaults/",
    ),
    # --- FAQ 第 16 章 关于本 FAQ ---
    ("faq:faqinfo", "fact", "Debian FAQ 目前的维护者是谁？", "Javier Fernandez-Sanguino"),
    ("faq:faqinfo", "howto", "想对 Debian FAQ 提出修改或补充，应该发到哪里？", "doc-debian@packages.debian.org"),
    # --- FAQ 第 6 章 档案库 ---
    ("faq:ftparchives", "fact", "代号 bookworm 取自《玩具总动员》里的哪个角色？", "内置手电筒"),
    ("faq:ftparchives", "howto", "怎样查出某个源码包存放在档案库 pool 目录下的哪个位置？", "apt-cache showsrc"),
    (
        "faq:ftparchives",
        "para",
        "为什么还在开发中的版本用卡通玩具的名字来称呼，而不是直接用版本号？",
        "只有代号。设立这些代号的目的",
    ),
    ("faq:ftparchives", "fact", "档案库里的“incoming”目录是做什么用的？普通用户应该从那里安装软件包吗？", "incoming"),
    # --- FAQ 第 10 章 内核 ---
    ("faq:kernel", "howto", "如何安全地卸载不再需要的旧内核映像软件包？", "dpkg --purge linux-image-NNN"),
    ("faq:kernel", "para", "能否在这个系统上使用不带发行版补丁的原版内核？通常会碰到什么坑？", "linux-libc-dev"),
    # --- FAQ 第 15 章 下一个发布版本 ---
    (
        "faq:nextrelease",
        "fact",
        "Debian 在系统加固方面做了哪些工作，例如使用什么样的编译选项？",
        "增强安全性的编译选项",
    ),
    (
        "faq:nextrelease",
        "para",
        "能不能在正在运行的 Windows 里直接启动安装程序，而不用去改固件的启动设置？",
        "而不用修改 BIOS 设置",
    ),
    # --- FAQ 第 7 章 软件包管理系统基础 ---
    (
        "faq:pkg-basics",
        "fact",
        "升级软件包时，dpkg 会怎样对待登记在案的 /etc 配置文件？怎样查看哪些文件属于这一类？",
        "Conffiles:",
    ),
    (
        "faq:pkg-basics",
        "para",
        "为什么好几个不同的网页浏览器都能满足某个程序对“一个浏览器”的需求，而该程序并不需要指明是哪一个？",
        "www-browser",
    ),
    ("faq:pkg-basics", "fact", "默认安装时会装上哪个优先级以上的软件包？这一级别里包含 SSH 服务器吗？", "OpenSSH"),
    ("faq:pkg-basics", "para", "当初为什么要引入一种更严格的依赖，要求先装好前提软件包之后才允许解包？", "ELF"),
    # --- FAQ 第 8 章 软件包管理工具 ---
    (
        "faq:pkgtools",
        "howto",
        "怎样在不安装的情况下查看一个 .deb 文件里有哪些文件，或把它解到临时目录里？",
        "dpkg-deb --extract",
    ),
    ("faq:pkgtools", "para", "卸载了一个游戏之后，和它配套的那个很大的数据包为什么还留在系统里？", "foo-data"),
    ("faq:pkgtools", "fact", "“apt-cache policy 软件包”对应的新 apt 命令是什么？", "apt list -a"),
    # --- FAQ 第 14 章 重新分发 ---
    ("faq:redistributing", "fact", "我可以自己制作并出售 Debian 光盘吗？需要向项目付费吗？", "不需要支付任何费用"),
    (
        "faq:redistributing",
        "para",
        "我想为某个细分行业做一套专用系统，能不能以它为底座，再在上面叠加自己的应用？",
        "垂直市场",
    ),
    # --- FAQ 第 5 章 可用的软件 ---
    ("faq:software", "para", "编译时链接器说找不到某个库，可这个库明明已经装了，我还缺哪个包？", "libfoo-dev"),
    ("faq:software", "fact", "qmail、djbdns 这些 Dan J. Bernstein 写的软件在 Debian 里能找到吗？", "djbdns"),
    ("faq:software", "fact", "已安装软件的上游作者记录在系统中的哪个文件里？", "/usr/share/doc/PACKAGE/copyright"),
    # --- FAQ 第 12 章 获取支持 ---
    ("faq:support", "howto", "怎样通过电子邮件订阅 Debian 的某个邮件列表？", "-request@lists.debian.org"),
    ("faq:support", "para", "想直接联系某一个软件包的负责人，该把邮件发到哪个地址？", "xyz@packages.debian.org"),
    # --- FAQ 第 9 章 保持系统最新 ---
    (
        "faq:uptodate",
        "howto",
        "要让 dpkg 记录下每一次调用，应该在哪个配置文件里加什么内容？日志又该如何轮转？",
        "/etc/dpkg/dpkg.cfg",
    ),
    (
        "faq:uptodate",
        "para",
        "有没有一种服务，写进 APT 软件源之后能根据我的位置自动挑选又近又快的下载服务器？",
        "httpredir.debian.org",
    ),
    ("faq:uptodate", "fact", "cron-apt 默认会自动安装更新吗？testing 或 unstable 系统适合开启自动升级吗？", "cron-apt"),
]

SETS = {"en": EN, "zh": ZH}


_BLOCK = {
    "p",
    "div",
    "li",
    "dt",
    "dd",
    "tr",
    "td",
    "th",
    "pre",
    "br",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "title",
    "blockquote",
}


class _Text(html.parser.HTMLParser):
    """Visible text of a page, navigation header and footer dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0  # depth inside <script>/<style>/navigation divs

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class") or ""
        if self._skip:
            if tag == "div" or tag in ("script", "style"):
                self._skip += 1
        elif tag in ("script", "style") or (tag == "div" and cls in ("navheader", "navfooter")):
            self._skip = 1
        if tag in _BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if self._skip and (tag == "div" or tag in ("script", "style")):
            self._skip -= 1
        if tag in _BLOCK:
            self.parts.append(" ")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def page_text(rel: str) -> str:
    p = _Text()
    p.feed((DOC / rel).read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", "".join(p.parts))


def rows(lang: str):
    for page, kind, question, evidence in SETS[lang]:
        assert kind in KINDS, (page, kind)
        yield source(lang, page), kind, question, evidence


def write(lang: str) -> pathlib.Path:
    out = HERE / f"debian-{lang}.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for src, _kind, question, _ev in rows(lang):
            f.write(json.dumps({"question": question, "expected_source": src}, ensure_ascii=False) + "\n")
    return out


def summary(lang: str) -> None:
    data = list(rows(lang))
    kinds = collections.Counter(k for _, k, _, _ in data)
    books = collections.Counter("reference" if "debian-reference" in s else "faq" for s, _, _, _ in data)
    pages = {s for s, _, _, _ in data}
    print(f"{lang}: {len(data)} questions over {len(pages)} pages; by kind {dict(kinds)}; by book {dict(books)}")


def check(lang: str) -> int:
    listed = subprocess.run([str(SCRIPT), lang], check=True, capture_output=True, text=True).stdout.split()
    texts = {rel: page_text(rel) for rel in listed}
    errors = 0
    seen = set()
    per_page = collections.Counter()
    for src, _kind, question, evidence in rows(lang):
        per_page[src] += 1
        if question in seen:
            print(f"[{lang}] duplicate question: {question}")
            errors += 1
        seen.add(question)
        if src not in texts:
            print(f"[{lang}] not a listed page: {src}")
            errors += 1
            continue
        if evidence not in texts[src]:
            print(f"[{lang}] evidence {evidence!r} not in {src}: {question}")
            errors += 1
        others = [r for r, t in texts.items() if r != src and evidence in t]
        if others:
            short = ", ".join(pathlib.PurePath(r).name for r in others)
            print(f"[{lang}] note: evidence {evidence!r} of {pathlib.PurePath(src).name} also in {short}")
    for rel in listed:
        if per_page[rel] < 2:
            print(f"[{lang}] page with fewer than 2 questions: {rel} ({per_page[rel]})")
            errors += 1
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="verify against the installed pages")
    args = ap.parse_args()
    errors = 0
    for lang in SETS:
        path = write(lang)
        print(f"wrote {path.relative_to(HERE.parent.parent)}")
        summary(lang)
        if args.check:
            errors += check(lang)
    if errors:
        print(f"{errors} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
