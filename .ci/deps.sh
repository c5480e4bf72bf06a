# Sourced by run.sh and test.sh: installs the Debian packages the project needs when any is missing.
# Quick (one dpkg-query) when everything is present.

procsync_packages=(
        meson ninja-build pkg-config gcc clang libclang-rt-14-dev
        libsqlite3-dev sqlite3 libyaml-dev libpcre2-dev libjansson-dev libmicrohttpd-dev libsystemd-dev
        libcurl4-openssl-dev libgrpc-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
        libbpf-dev bpftool
        libcmocka-dev python3 python3-grpcio python3-grpc-tools
        iproute2 util-linux procps passwd curl nginx wrk valgrind systemd
        prometheus
)

procsync_install_deps() {
        local missing=()
        local p
        for p in "${procsync_packages[@]}"; do
                if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
                        missing+=("$p")
                fi
        done
        [ ${#missing[@]} -eq 0 ] && return 0
        echo "procsync: installing missing Debian packages: ${missing[*]}" >&2
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
}
