#!/usr/bin/env bash
# The command line as a user meets it: help, version, usage errors (exit 2), runtime failures
# (exit 1, one clear message, no partial output), and `sinter info` on good and bad files.
set -u
. "$(dirname "$0")/cli_lib.sh"

# a valid safetensors file, written byte by byte: one f32 tensor [2] and metadata
st() { # st FILE HEADER_JSON DATA_BYTES(printf escapes)
  local n=${#2}
  printf "$(printf '\\x%02x\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00' $((n & 255)) $((n >> 8)))" >"$1"
  printf '%s' "$2" >>"$1"
  printf "$3" >>"$1"
}
good='{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
st "$tmp/good.safetensors" "$good" '\x00\x00\x80\x3f\x00\x00\x00\x40'

expect 0 "usage: sinter <command>" -- "$bin" --help
expect 2 "usage: sinter <command>" -- "$bin"
expect 0 "^sinter [0-9]+\.[0-9]+" -- "$bin" --version
expect 2 "unknown command 'frobnicate'" -- "$bin" frobnicate
for cmd in info recon encode decode; do
  expect 0 "usage: sinter $cmd" -- "$bin" $cmd --help
done
expect 2 "unknown option '--bogus'" -- "$bin" info --bogus x
expect 2 "expects one FILE" -- "$bin" info
expect 2 "unexpected argument .b." -- "$bin" info a b
expect 2 "--threads expects a whole number" -- "$bin" recon --threads many --vae x -o y z.png
expect 2 "--vae FILE is required" -- "$bin" recon -o out.png in.png
expect 2 "--device must be cpu or cuda" -- "$bin" recon --vae x --device tpu -o o.png i.png
expect 2 "needs a value" -- "$bin" recon --vae

expect 0 "safetensors checkpoint, 1 tensor, 2 parameters" -- "$bin" info "$tmp/good.safetensors"
expect 0 "format: pt" -- "$bin" info "$tmp/good.safetensors"
expect 0 "w +f32 +\[2\]" -- "$bin" info "$tmp/good.safetensors"
expect 0 "^w$" -- "$bin" info --names "$tmp/good.safetensors"
expect 1 "no-such-file.safetensors: No such file" -- "$bin" info "$tmp/no-such-file.safetensors"

# a real file written by the safetensors package (tools/reference/safetensors_file.py): the
# listing must match what that script recorded, tensor for tensor, in file order
real=${SINTER_SRC:-..}/tests/fixtures/real/torch_saved.safetensors
if [ -f "$real" ]; then
  want=$(tail -n +2 "${real%.safetensors}.expected")
  got=$("$bin" info "$real" | sed -n '/^tensors:/,$p' | tail -n +2 | awk '{n=$1; d=$2; $1=""; $2=""; sub(/^ +/, ""); print n, d, $0}')
  if [ "$want" = "$got" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: info listing differs"; diff <(echo "$want") <(echo "$got"); fi
  expect 0 "9 tensors, 551 parameters" -- "$bin" info "$real"
  expect 0 "note: written by safetensors.torch" -- "$bin" info "$real"
else
  echo "SKIP (part): $real not found"
fi

# corrupt checkpoints: each one clear message naming the file, exit 1
head -c 5 "$tmp/good.safetensors" >"$tmp/short.safetensors"
expect 1 "short.safetensors" -- "$bin" info "$tmp/short.safetensors"
head -c 40 "$tmp/good.safetensors" >"$tmp/trunc.safetensors"
expect 1 "trunc.safetensors" -- "$bin" info "$tmp/trunc.safetensors"
st "$tmp/json.safetensors" '{"w":{"dtype":"F32",' ''
expect 1 "json.safetensors.*JSON" -- "$bin" info "$tmp/json.safetensors"
st "$tmp/dtype.safetensors" '{"w":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}' '\x00\x00\x00\x00\x00\x00\x00\x00'
expect 1 "dtype.safetensors.*'w'.*F31" -- "$bin" info "$tmp/dtype.safetensors"
st "$tmp/outside.safetensors" '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}' '\x00\x00\x00\x00\x00\x00\x00\x00'
expect 1 "outside.safetensors.*'w'" -- "$bin" info "$tmp/outside.safetensors"
st "$tmp/overlap.safetensors" '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' '\x00\x00\x00\x00\x00\x00\x00\x00'
expect 1 "overlap.safetensors.*overlap" -- "$bin" info "$tmp/overlap.safetensors"
st "$tmp/count.safetensors" '{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}' '\x00\x00\x00\x00\x00\x00\x00\x00'
expect 1 "count.safetensors.*'w'" -- "$bin" info "$tmp/count.safetensors"
printf '\xff\xff\xff\xff\xff\xff\xff\x7f{}' >"$tmp/huge.safetensors"
expect 1 "huge.safetensors" -- "$bin" info "$tmp/huge.safetensors"
printf 'PK\x03\x04garbage' >"$tmp/bad.pth"
expect 1 "bad.pth" -- "$bin" info "$tmp/bad.pth"

# runtime failures leave no output file behind
expect 1 "nonexistent.png" -- "$bin" recon --vae "$tmp/good.safetensors" "$tmp/nonexistent.png" -o "$tmp/out.png"
expect 1 "not an autoencoder" -- "$bin" encode --vae "$tmp/good.safetensors" "$tmp/x.png" -o "$tmp/out.safetensors"
[ ! -e "$tmp/out.png" ] && [ ! -e "$tmp/out.safetensors" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: output left behind"; }
ls -a "$tmp" | grep -q '^\.out' && { fail=$((fail + 1)); echo "FAIL: temporary file left behind"; } || pass=$((pass + 1))

# --attention: neighborhood attention over the token grid, training-free (checked against the
# dense oracle in test_neighborhood.c); windows that do not fit the grid are one clear error
fx=${SINTER_SRC:-..}/tests/fixtures
gen=("$bin" generate -q --model "$fx/dit/dit.pt" --model-kind dit:heads=4 --vae "$fx/vae_kl/sd.safetensors" --class 3 --steps 2)
expect 0 '' -- "${gen[@]}" --attention neighborhood:window=3 -o "$tmp/na.png"
ok '[ -s "$tmp/na.png" ]' "generate with neighborhood attention wrote no PNG"
expect 1 'window 9 x dilation 1 does not fit the grid size 4' -- "${gen[@]}" --attention neighborhood:window=9 -o "$tmp/na9.png"
ok '[ ! -e "$tmp/na9.png" ]' "a failed generate left a file"
expect 1 "attention 'dense': expected full or neighborhood" -- "${gen[@]}" --attention dense -o "$tmp/nd.png"
expect 1 'stride' -- "${gen[@]}" --attention neighborhood:window=3,stride=5 -o "$tmp/ns.png"
# blocks and steps kept dense: all of them dense is full attention, bit for bit
"${gen[@]}" --save-tensor "$tmp/full.st" > /dev/null 2>&1
"${gen[@]}" --attention neighborhood:window=3 --save-tensor "$tmp/na.st" > /dev/null 2>&1
"${gen[@]}" --attention neighborhood:window=3,dense-blocks=0-1 --save-tensor "$tmp/db.st" > /dev/null 2>&1
"${gen[@]}" --attention neighborhood:window=3,dense-steps=2 --save-tensor "$tmp/ds.st" > /dev/null 2>&1
"${gen[@]}" --attention neighborhood:window=3,dense-steps=1 --save-tensor "$tmp/d1.st" > /dev/null 2>&1
ok 'cmp -s "$tmp/full.st" "$tmp/db.st"' "dense-blocks over every block differs from full attention"
ok 'cmp -s "$tmp/full.st" "$tmp/ds.st"' "dense-steps over every step differs from full attention"
ok '! cmp -s "$tmp/full.st" "$tmp/na.st"' "neighborhood attention gave full attention's result"
ok '! cmp -s "$tmp/d1.st" "$tmp/na.st" && ! cmp -s "$tmp/d1.st" "$tmp/full.st"' "dense-steps=1 is not a mix"
expect 1 'dense-blocks takes block indices' -- "${gen[@]}" --attention neighborhood:window=3,dense-blocks=5-2 -o "$tmp/x.png"

finish test_cli
