# Sourced by scripts/qemu for a cross build (--arch ARCH, ARCH not the
# machine's; today arm64 on amd64): Debian's cross toolchain and a sysroot of
# ARCH's -dev packages, both private to the cache. Not a command of its own.
#
# Nothing of the machine's dpkg/apt configuration changes (no dpkg
# --add-architecture, no cross packages installed). Debian's cross compiler
# cannot even be installed beside gcc-multilib, which fexrl's i386 guests need
# (gcc-multilib Conflicts: gcc-12-aarch64-linux-gnu), so the packages are
# fetched with `apt-get download` (apt checks every .deb against the signed
# lists) from a private apt directory and unpacked with `dpkg-deb -x`:
#
#   toolchain  gcc-TRIPLET and libc6-dev-ARCH-cross with the parts of their
#              dependency closure that are cross packages (binutils-TRIPLET,
#              cpp-, libgcc-12-dev-ARCH-cross, linux-libc-dev-ARCH-cross, ...).
#              GCC finds its own parts relative to its binary; the rest of the
#              closure (libisl23, libmpc3, ...: what the machine's gcc needs
#              too) must be installed on the machine, and is, when missing.
#   sysroot    libglib2.0-dev:ARCH, libpcre2-dev:ARCH, zlib1g-dev:ARCH: static
#              glib and what its .pc files require, and zlib (always required
#              by QEMU's meson.build). The C library is the toolchain's.
#
# Cache, under $Q/cross/ARCH:
#   apt/        sources (etc/: the machine's Debian `deb` entries, for the
#               machine's arch and ARCH), lists/, cache/, an empty dpkg status
#               (so the packages resolve as for an empty system)
#   toolchain/  the unpacked cross toolchain (usr/bin/TRIPLET-gcc, ...)
#   sysroot/    the unpacked ARCH -dev packages (usr/include, usr/lib/TRIPLET)
#   debs.list   what toolchain/ and sysroot/ hold: the manifest's
#               "toolchain-deb FILE SHA256" and "sysroot-deb FILE SHA256" lines
#   bin/        TRIPLET-gcc, -ar, -nm, ... (wrappers: the compiler gets
#               --sysroot=toolchain/, and all find the cross binutils' shared
#               libraries, libbfd-*-ARCH.so, in toolchain/) and
#               TRIPLET-pkg-config (PKG_CONFIG_LIBDIR and PKG_CONFIG_SYSROOT_DIR
#               set to sysroot/): configure's --cross-prefix=bin/TRIPLET-
# The build tree is work/VERSION-ARCH, beside the native one.

CROSS_SYSROOT_PKGS=(libglib2.0-dev libpcre2-dev zlib1g-dev)
# What configure and meson look up with pkg-config (--without-default-features:
# gthread-2.0 and glib-2.0 in configure, zlib in meson.build; not gio, gmodule).
CROSS_PC_NEEDED=(glib-2.0 gthread-2.0 zlib)

# cross_init: the toolchain and paths for $ARCH on this $HOST_ARCH machine.
# Sets CROSS (the GNU triplet), CROSS_DIR, CROSS_BIN, TOOLCHAIN, SYSROOT,
# CROSS_APT_OPTS, CROSS_ELF_MACHINE (readelf's Machine:), CROSS_QEMU and
# CROSS_RUN (how this machine runs an ARCH binary, for the final version check;
# empty without Debian's qemu-user-static), and adds --cross-prefix to
# ARCH_CONFIGURE.
cross_init() {
	case "$ARCH" in
	arm64)
		CROSS=aarch64-linux-gnu
		CROSS_ELF_MACHINE=AArch64
		CROSS_QEMU=qemu-aarch64-static
		;;
	*) die "a cross build for $ARCH is not supported (only arm64, on an amd64 machine)" ;;
	esac
	[ "$HOST_ARCH" = amd64 ] ||
		die "a cross build for $ARCH on this $HOST_ARCH machine is not supported (only arm64, on an amd64 machine)"
	CROSS_DIR="$Q/cross/$ARCH"
	CROSS_BIN="$CROSS_DIR/bin"
	TOOLCHAIN="$CROSS_DIR/toolchain"
	SYSROOT="$CROSS_DIR/sysroot"
	# Every tool configure uses (gcc, ar, nm, ranlib, strip, objcopy,
	# pkg-config) is $CROSS_BIN/$CROSS-NAME; meson's cross file gets the
	# absolute paths, so ninja's re-runs of meson need no environment.
	ARCH_CONFIGURE+=(--cross-prefix="$CROSS_BIN/$CROSS-")
	CROSS_APT_OPTS=(
		-o "Dir::Etc::SourceList=$CROSS_DIR/apt/etc/sources.list"
		-o "Dir::Etc::SourceParts=$CROSS_DIR/apt/etc/sources.list.d"
		-o "Dir::State::Lists=$CROSS_DIR/apt/lists"
		-o "Dir::Cache=$CROSS_DIR/apt/cache"
		# A binary cache of the lists (even where apt.conf turns it off, as
		# Debian's docker images do): resolving is then fast on every run.
		-o "Dir::Cache::pkgcache=$CROSS_DIR/apt/cache/pkgcache.bin"
		-o "Dir::State::status=$CROSS_DIR/apt/status"
		-o "APT::Architecture=$HOST_ARCH"
		-o "APT::Architectures::=$HOST_ARCH"
		-o "APT::Architectures::=$ARCH"
		-o "Acquire::Languages=none"
		# Only the Packages indices (not appstream's DEP-11 metadata).
		-o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
		-o "APT::Sandbox::User=$(id -un)"
	)
	CROSS_RUN=""
	if [ -x "/usr/bin/$CROSS_QEMU" ]; then CROSS_RUN="/usr/bin/$CROSS_QEMU"; fi
}

# cross_sources LIST PARTS: the machine's Debian sources (derive_sources' filter)
# as `deb` entries for $HOST_ARCH and $ARCH, one-line format in LIST, deb822 in
# PARTS.
cross_sources() {
	local list=$1 parts=$2 archs="$HOST_ARCH $ARCH"
	derive_sources "$list.src" "$parts.src"
	# deb-src [opts] URI ... -> deb [arch=H,A opts without arch] URI ...
	awk -v arch="${archs// /,}" '
		/^[ \t]*deb-src[ \t]/ {
			sub(/^[ \t]*deb-src[ \t]+/, "")
			opts = ""
			if (substr($0, 1, 1) == "[") {
				e = index($0, "]")
				n = split(substr($0, 2, e - 2), o, /[ \t]+/)
				for (i = 1; i <= n; i++)
					if (o[i] != "" && o[i] !~ /^arch(-=|\+=|=)/) opts = opts " " o[i]
				$0 = substr($0, e + 1)
				sub(/^[ \t]+/, "")
			}
			print "deb [arch=" arch opts "] " $0
		}' "$list.src" >"$list"
	# Types: deb-src -> Types: deb, and Architectures: H A in place of any.
	awk -v arch="$archs" '
		tolower($0) ~ /^types:/ { print "Types: deb"; print "Architectures: " arch; skip = 0; next }
		tolower($0) ~ /^architectures(-add|-remove)?:/ { skip = 1; next }
		/^[ \t]/ && skip { next }
		{ skip = 0; print }' "$parts.src" >"$parts"
	rm -f "$list.src" "$parts.src"
}

# cross_apt FORCE: makes the private lists current, as apt_private does for the
# source lists: fetched when missing, when the derived sources changed, or when
# asked (FORCE = 1).
cross_apt() {
	local force=$1 a="$CROSS_DIR/apt" new="$CROSS_DIR/apt/new"
	mkdir -p "$a/etc/sources.list.d" "$a/lists/partial" "$a/cache/archives/partial" "$new"
	[ -e "$a/status" ] || : >"$a/status"
	cross_sources "$new/sources.list" "$new/debian-cross.sources"
	if [ ! -s "$new/sources.list" ] && [ ! -s "$new/debian-cross.sources" ]; then
		die "found no Debian sources in the machine's apt configuration to fetch the $ARCH cross packages from"
	fi
	if ! cmp -s "$new/sources.list" "$a/etc/sources.list" ||
		! cmp -s "$new/debian-cross.sources" "$a/etc/sources.list.d/debian-cross.sources"; then
		mv "$new/sources.list" "$a/etc/sources.list"
		mv "$new/debian-cross.sources" "$a/etc/sources.list.d/debian-cross.sources"
		rm -f "$a/lists/.fexrl-updated"
	fi
	rm -rf "$new"
	if [ "$force" = 1 ] || [ ! -e "$a/lists/.fexrl-updated" ]; then
		log "apt-get update (private $HOST_ARCH+$ARCH package lists for the cross build, in $a)"
		apt-get "${CROSS_APT_OPTS[@]}" update ||
			die "apt-get update of the private $ARCH package lists failed (sources: $a/etc)"
		touch "$a/lists/.fexrl-updated"
	fi
}

# cross_fetched: whether the private lists were ever fetched.
cross_fetched() { [ -e "$CROSS_DIR/apt/lists/.fexrl-updated" ]; }

# cross_resolve: from the private lists (no network) sets
#   TOOLCHAIN_PKGS  the cross toolchain's packages, as NAME=VERSION
#   SYSROOT_PKGS    the sysroot's, as NAME:ARCH=VERSION
#   CROSS_HOST_DEPS what the toolchain needs installed on the machine
#   SYSROOT_LIST    the manifest lines for both (as in debs.list)
# Two apt runs (about a second each): resolving the toolchain's closure, then
# naming every .deb with its SHA256 (apt-get --print-uris download).
cross_resolve() {
	local out line file sha name rest ver arch p
	out=$(apt-get "${CROSS_APT_OPTS[@]}" -s install --no-install-recommends \
		"gcc-${CROSS//_/-}" "libc6-dev-$ARCH-cross" 2>&1) ||
		die "cannot resolve Debian's $CROSS cross toolchain in the private lists ($CROSS_DIR/apt): $out"
	# "Inst NAME (VERSION ...": cross packages are named for the triplet or
	# end in -ARCH-cross (and gcc-N-cross-base); the rest are the machine's.
	TOOLCHAIN_PKGS=()
	CROSS_HOST_DEPS=()
	while read -r name ver; do
		if [[ $name == *"${CROSS//_/-}"* || $name == *"-$ARCH-cross" || $name =~ ^gcc-[0-9]+-cross-base$ ]]; then
			TOOLCHAIN_PKGS+=("$name=$ver")
		else
			CROSS_HOST_DEPS+=("$name")
		fi
	done < <(awk '/^Inst / { v = $3; sub(/^\(/, "", v); print $2, v }' <<<"$out")
	((${#TOOLCHAIN_PKGS[@]})) || die "resolved no cross toolchain packages: $out"
	# The sysroot: the candidates of the named packages, without their
	# dependencies (whose static .pc requirements the checks in
	# cross_prepare cover).
	out=$(apt-get "${CROSS_APT_OPTS[@]}" --print-uris download \
		"${TOOLCHAIN_PKGS[@]}" "${CROSS_SYSROOT_PKGS[@]/%/:$ARCH}" 2>&1) ||
		die "cannot resolve the cross packages in the private lists ($CROSS_DIR/apt): $out (try scripts/qemu --arch $ARCH --update)"
	SYSROOT_PKGS=()
	SYSROOT_LIST=""
	# 'URI' NAME_VERSION_ARCH.deb SIZE SHA256:HEX (the epoch's colon as %3a)
	while read -r file sha; do
		name=${file%%_*}
		rest=${file#*_}
		ver=${rest%_*}
		ver=${ver//%3a/:}
		arch=${rest##*_}
		arch=${arch%.deb}
		line="toolchain-deb $file $sha"
		for p in "${CROSS_SYSROOT_PKGS[@]}"; do
			if [ "$name" = "$p" ] && [ "$arch" = "$ARCH" ]; then
				SYSROOT_PKGS+=("$name:$ARCH=$ver")
				line="sysroot-deb $file $sha"
			fi
		done
		SYSROOT_LIST+="$line"$'\n'
	done < <(awk '/^'\''/ { s = $4; sub(/^SHA256:/, "", s); print $2, s }' <<<"$out")
	[ "${#SYSROOT_PKGS[@]}" = "${#CROSS_SYSROOT_PKGS[@]}" ] ||
		die "could not resolve all of ${CROSS_SYSROOT_PKGS[*]} for $ARCH: $out"
	SYSROOT_LIST=$(LC_ALL=C sort <<<"${SYSROOT_LIST%$'\n'}")
}

# cross_unpack DIR PKG=VERSION...: downloads the .debs and unpacks them into DIR
# (made afresh).
cross_unpack() {
	local dir=$1 dl="$CROSS_DIR/debs" f
	shift
	rm -rf "$dl" "$dir"
	mkdir -p "$dl" "$dir"
	(cd "$dl" && apt-get "${CROSS_APT_OPTS[@]}" download "$@") ||
		die "apt-get download $* failed (try scripts/qemu --arch $ARCH --update)"
	for f in "$dl"/*.deb; do
		[ -e "$f" ] || die "apt-get download left no .deb in $dl"
		dpkg-deb -x "$f" "$dir" || die "dpkg-deb -x $f failed"
	done
	rm -rf "$dl"
}

# cross_prepare: makes toolchain/ and sysroot/ hold SYSROOT_LIST's .debs,
# writes bin/ and checks that the two work together.
cross_prepare() {
	local d="$CROSS_DIR" f n p hostlib sysroot
	install_missing "${CROSS_HOST_DEPS[@]}"
	if [ ! -d "$TOOLCHAIN" ] || [ ! -d "$SYSROOT" ] || [ "$(cat "$d/debs.list" 2>/dev/null)" != "$SYSROOT_LIST" ]; then
		rm -f "$d/debs.list"
		log "apt-get download + dpkg-deb -x: $CROSS toolchain (${#TOOLCHAIN_PKGS[@]} packages: ${TOOLCHAIN_PKGS[*]})"
		cross_unpack "$d/toolchain.tmp" "${TOOLCHAIN_PKGS[@]}"
		log "apt-get download + dpkg-deb -x: $ARCH sysroot (${SYSROOT_PKGS[*]})"
		cross_unpack "$d/sysroot.tmp" "${SYSROOT_PKGS[@]}"
		rm -rf "$TOOLCHAIN" "$SYSROOT"
		mv "$d/toolchain.tmp" "$TOOLCHAIN"
		mv "$d/sysroot.tmp" "$SYSROOT"
		echo "$SYSROOT_LIST" >"$d/debs.list"
	fi
	# The wrappers: written every run (cheap), so they always match this file.
	rm -rf "$d/bin.tmp"
	mkdir -p "$d/bin.tmp"
	hostlib="$TOOLCHAIN/usr/lib/$(dpkg-architecture -qDEB_BUILD_MULTIARCH 2>/dev/null || gcc -dumpmachine)"
	for f in "$TOOLCHAIN/usr/bin/$CROSS"-*; do
		[ -x "$f" ] || continue
		n=$(basename "$f")
		# The compiler gets --sysroot=toolchain/: Debian's is configured
		# with --with-sysroot=/, and libc6-dev-ARCH-cross's linker scripts
		# (libc.so, ...) name /usr/TRIPLET/lib/...; with the sysroot, ld
		# finds them in toolchain/ (and the machine's /usr/include is no
		# longer searched).
		sysroot=""
		case "$n" in
		"$CROSS"-gcc | "$CROSS"-gcc-[0-9]* | "$CROSS"-cpp | "$CROSS"-cpp-[0-9]*) sysroot=" '--sysroot=$TOOLCHAIN'" ;;
		esac
		# The cross binutils link libbfd/libopcodes-VERSION-ARCH.so from
		# usr/lib/MULTIARCH; gcc's children (as, ld) inherit the path.
		cat >"$d/bin.tmp/$n" <<-EOF
			#!/bin/sh
			LD_LIBRARY_PATH='$hostlib'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
			export LD_LIBRARY_PATH
			exec '$f'$sysroot "\$@"
		EOF
		chmod +x "$d/bin.tmp/$n"
	done
	cat >"$d/bin.tmp/$CROSS-pkg-config" <<-EOF
		#!/bin/sh
		# pkg-config for the $ARCH sysroot only.
		PKG_CONFIG_SYSROOT_DIR='$SYSROOT'
		PKG_CONFIG_LIBDIR='$SYSROOT/usr/lib/$CROSS/pkgconfig:$SYSROOT/usr/share/pkgconfig'
		export PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
		unset PKG_CONFIG_PATH
		exec /usr/bin/pkg-config "\$@"
	EOF
	chmod +x "$d/bin.tmp/$CROSS-pkg-config"
	rm -rf "$CROSS_BIN"
	mv "$d/bin.tmp" "$CROSS_BIN"
	# The checks: glib's static link with the toolchain's C library.
	for p in "${CROSS_PC_NEEDED[@]}"; do
		"$CROSS_BIN/$CROSS-pkg-config" --static --exists "$p" ||
			die "the $ARCH sysroot ($SYSROOT) lacks $p.pc or what it requires: $("$CROSS_BIN/$CROSS-pkg-config" --static --print-errors --exists "$p" 2>&1)"
	done
	rm -rf "$d/check"
	mkdir -p "$d/check"
	printf 'int main(void) { return 0; }\n' >"$d/check/d.c"
	"$CROSS_BIN/$CROSS-gcc" -o "$d/check/d" "$d/check/d.c" >"$d/check/log" 2>&1 ||
		die "the $CROSS toolchain ($TOOLCHAIN) cannot link a program: $(cat "$d/check/log")"
	printf '#include <glib.h>\n#include <zlib.h>\nint main(void) { return g_strcmp0(zlibVersion(), "") == 0; }\n' >"$d/check/c.c"
	# shellcheck disable=SC2046 # pkg-config's output is a list of flags
	"$CROSS_BIN/$CROSS-gcc" -static -o "$d/check/c" "$d/check/c.c" \
		$("$CROSS_BIN/$CROSS-pkg-config" --static --cflags --libs "${CROSS_PC_NEEDED[@]}") >"$d/check/log" 2>&1 ||
		die "the $CROSS toolchain cannot link static glib from the sysroot: $(cat "$d/check/log")"
	readelf -hW "$d/check/c" | grep -q "Machine: *$CROSS_ELF_MACHINE\$" ||
		die "the $CROSS toolchain did not build an $CROSS_ELF_MACHINE program"
	rm -rf "$d/check"
}
