# Sourced by the device scripts (build_and_test.sh, attention.sh, na.sh): sinter's Debian
# build dependencies, carried as .deb files (see build_and_test.sh for how to fetch them), are
# unpacked into a private prefix (never into /), pkg-config is pointed at it, and cuDNN is
# found beside the toolkit or as PyTorch's pip wheel. Afterwards `sn_cmake_opts` holds the
# extra cmake arguments. Usage: . tools/device/deps.sh DEPS_DIR
sn_deps=$(cd "${1:?deps folder}" && pwd)
sn_prefix=${SINTER_DEPS_PREFIX:-/tmp/sinter-deps}
mkdir -p "$sn_prefix"
for f in "$sn_deps"/*.deb; do dpkg -x "$f" "$sn_prefix"; done
usr=$sn_prefix/usr
lib=$usr/lib/x86_64-linux-gnu
pc=$lib/pkgconfig
mkdir -p "$pc"
# Debian selects OpenBLAS as BLAS/LAPACK through alternatives, which dpkg -x does not make
cp "$lib/openblas-pthread/pkgconfig/openblas.pc" "$pc/openblas.pc"
cp "$lib/openblas-pthread/pkgconfig/lapack-openblas.pc" "$pc/lapack.pc"
cp "$lib/openblas-pthread/pkgconfig/blas-openblas.pc" "$pc/blas.pc"
sed -i -E "s#(=|-I|-L)/usr#\\1$usr#g" "$pc"/*.pc
export PKG_CONFIG_PATH=$pc PKG_CONFIG_LIBDIR=$pc
export CPATH=$usr/include:$usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}
export LIBRARY_PATH=$lib:$lib/openblas-pthread${LIBRARY_PATH:+:$LIBRARY_PATH}
export LD_LIBRARY_PATH=$lib:$lib/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
sn_cmake_opts=()
if ! command -v pkg-config > /dev/null; then sn_cmake_opts+=(-DPKG_CONFIG_EXECUTABLE=$usr/bin/pkgconf); fi
if [ ! -f /usr/local/cuda/include/cudnn.h ] && [ -z "${CUDNN_ROOT:-}" ]; then
  d=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2> /dev/null || true)
  if [ -n "$d" ]; then export CUDNN_ROOT=$d; fi
fi
if [ -n "${CUDNN_ROOT:-}" ]; then
  sn_cmake_opts+=(-DCUDNN_ROOT=$CUDNN_ROOT)
  export LD_LIBRARY_PATH=$CUDNN_ROOT/lib:$LD_LIBRARY_PATH
fi
