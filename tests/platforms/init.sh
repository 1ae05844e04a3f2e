#!/bin/sh
# /init of the cgroup v2 VM (tests/platforms/vm.py): mount what a machine mounts, cgroup2 alone on
# /sys/fs/cgroup, grade the cases as root (guest_grade.py prints RESULT lines), power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
if [ "$1" != stage2 ]; then
    # The initramfs is the kernel's rootfs, which pivot_root refuses (bubblewrap pivots into its
    # sandbox): put a bind mount of it over / and continue there, as a real root file system.
    mkdir -p /newroot
    mount --bind / /newroot && cd /newroot && mount --move . / && exec chroot . /init stage2
    echo "RESULT {\"case\": \"init\", \"crash\": \"cannot move the root file system\"}"
    echo o > /proc/sysrq-trigger
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
hostname guest
/opt/venv/bin/python /opt/guest_grade.py
echo o > /proc/sysrq-trigger
sleep 60
