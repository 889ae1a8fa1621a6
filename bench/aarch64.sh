#!/bin/sh
# Run the listener as a 64-bit Raspberry Pi would, on an x86-64 Debian machine: the aarch64
# wheels of the runtime (the ones pip picks on a Pi, at the versions constraints.txt locks) under
# Debian's arm64 Python 3.11, emulated by qemu-user with a Cortex-A72 (Pi 4) or Cortex-A76 (Pi 5).
# It checks what the Pi computes (ONNX Runtime's aarch64 kernels), not how fast: emulation is
# tens of times slower than the hardware. docs/raspberry-pi.md has what it found.
#
#   sudo PYTHON=.venv/bin/python sh bench/aarch64.sh setup /tmp/arm   # once: qemu, arm64 Python, the wheels, this checkout
#   sudo sh bench/aarch64.sh run /tmp/arm cortex-a72 analyze FILE|DIR --log arm.jsonl ...
#   python -m bench.compare_logs x86.jsonl arm.jsonl --names x86_64 aarch64-a72
#
# Needs root (apt-get, and a private mount namespace in which a Pi-like /proc/cpuinfo hides the
# host's: ONNX Runtime reads it at import and crashes on an x86 one) and Debian 12 or a Debian
# with the same python3.11 (its arm64 packages are the interpreter).
set -eu

usage() {
	echo "usage: $0 setup DIR | run DIR CPU LISTENER-ARGS..." >&2
	exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3} # any Python with pip (the project's venv will do)

case $cmd in
setup)
	mkdir -p "$dir/debs" "$dir/root" "$dir/wheels" "$dir/site"
	apt-get install -y qemu-user-static >/dev/null
	dpkg --add-architecture arm64
	apt-get update >/dev/null
	cd "$dir/debs"
	for p in libc6 libgcc-s1 libstdc++6 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib \
		libexpat1 zlib1g libffi8 libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libncursesw6 libtinfo6 \
		libreadline8 libuuid1 libdb5.3 libgdbm6 libgdbm-compat4 libnsl2 libtirpc3 libcrypt1 \
		libgssapi-krb5-2 libkrb5-3 libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1 media-types \
		libportaudio2 libasound2 libjack-jackd2-0; do
		apt-get download "$p:arm64" >/dev/null 2>&1 || apt-get download "$p" >/dev/null
	done
	for f in *.deb; do dpkg -x "$f" "$dir/root"; done
	cd "$here"
	"$python" -m pip download --quiet --dest "$dir/wheels" --only-binary=:all: --python-version 3.11 \
		--implementation cp --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
		--platform manylinux2014_aarch64 -c constraints.txt numpy onnxruntime sounddevice \
		webrtcvad-wheels soxr soundfile paho-mqtt
	"$python" -m pip wheel --quiet --no-deps --wheel-dir "$dir/wheels" .
	for w in "$dir"/wheels/*.whl; do "$python" -m zipfile -e "$w" "$dir/site/"; done
	echo "ready: sh $0 run $dir cortex-a72 analyze ..."
	;;
run)
	[ $# -ge 2 ] || usage
	cpu=$1
	shift
	[ -x "$dir/root/usr/bin/python3.11" ] || {
		echo "$0: $dir is not set up (run: $0 setup $dir)" >&2
		exit 2
	}
	# What the kernel of a Pi 4 (Cortex-A72) or a Pi 5 (Cortex-A76) says, so ONNX Runtime picks their kernels.
	case $cpu in
	cortex-a72) part=0xd08 variant=0x0 features="fp asimd evtstrm crc32 cpuid" ;;
	cortex-a76) part=0xd0b variant=0x4 features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
	*)
		echo "$0: CPU is cortex-a72 (Pi 4) or cortex-a76 (Pi 5)" >&2
		exit 2
		;;
	esac
	info="$dir/cpuinfo-$cpu"
	: >"$info"
	for i in 0 1 2 3; do
		printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: 1\n\n' \
			"$i" "$features" "$variant" "$part" >>"$info"
	done
	# -P: the current folder (a checkout's listener/ is not the installed package) stays off sys.path.
	export QEMU_LD_PREFIX="$dir/root" PYTHONPATH="$dir/site"
	exec unshare -m sh -c 'mount --bind "$1" /proc/cpuinfo && cpu=$2 && shift 2 &&
		exec qemu-aarch64-static -cpu "$cpu" "$0/root/usr/bin/python3.11" -P -m listener "$@"' "$dir" "$info" "$cpu" "$@"
	;;
*) usage ;;
esac
