#!/usr/bin/env bash
# Fuzz every parser that reads user files (cargo-fuzz on the nightly toolchain).
#
#   fuzz/run.sh            30 s per target: the pre-release check
#   fuzz/run.sh 600        10 minutes per target
#   RUNS=1000000 fuzz/run.sh   a fixed number of executions per target instead
#
# Seeds come from the sample data (made fresh in fuzz/corpus/, which is not committed).
# Limits: 30 s per input, 6 GiB resident and 6 GiB per allocation; any crash, abort, hang or
# limit hit stops that target with its input in fuzz/artifacts/<target>/ (make it a
# regression test in tests/it/).
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-30}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
root=..
# mk TARGET FILE...: copy seed files into the target's corpus (numbered: names may repeat).
mk() {
  local t="$1" i=0
  shift
  mkdir -p "corpus/$t"
  for f in "$@"; do i=$((i + 1)); cp "$f" "corpus/$t/seed-$i"; done
}
# Fixed inputs for the targets that replace one file of a scratch copy.
mkdir -p seeds/rlds_meta seeds/checkpoint seeds/empty
cp $root/sample_episodes/bridge_rlds/bridge_dataset/1.0.0/{dataset_info,features}.json seeds/rlds_meta/
: > seeds/rlds_meta/bridge_dataset-train.tfrecord-00000-of-00001
for f in config.json processor_config.json tokenizer.json tokenizer_config.json special_tokens_map.json preprocessor_config.json generation_config.json; do
  cp "$root/assets/tiny_spatialvla/$f" seeds/checkpoint/
done
# The safetensors seed: the tiny checkpoint's header and a little of its data.
head -c 65536 "$root/assets/tiny_spatialvla/model.safetensors" > seeds/checkpoint/model.safetensors
head -c 65536 "$root/sample_episodes/bridge_rlds/bridge_dataset/1.0.0/bridge_dataset-train.tfrecord-00000-of-00001" > seeds/tfrecord_head
mk tfrecord seeds/tfrecord_head
mk rlds_features seeds/rlds_meta/features.json seeds/rlds_meta/dataset_info.json
mk native_episode $root/sample_episodes/sim_native/episode_00*/episode.json
mk lerobot_info $root/sample_episodes/sim_lerobot_v21/meta/info.json $root/sample_episodes/sim_lerobot_v21/meta/episodes.jsonl
mk lerobot_table $root/sample_episodes/sim_lerobot_v21/data/chunk-000/*.parquet
mk safetensors seeds/checkpoint/model.safetensors
mk model_json $root/assets/tiny_spatialvla/config.json $root/assets/tiny_spatialvla/processor_config.json
mk mp4 $root/sample_episodes/sim_lerobot_v21/videos/chunk-000/observation.images.robot0_eye_in_hand/episode_000000.mp4 \
  $root/sample_episodes/sim_lerobot_v30_av1/videos/observation.images.robot0_eye_in_hand/chunk-000/file-000.mp4
mk hdf5 $root/tests/fixtures/hdf5/*.hdf5
mk rlbench_pickle $root/sample_episodes/sim_rlbench/*/*/episodes/episode0/low_dim_obs.pkl $root/tests/fixtures/rlbench/values_p*.pkl
mk pth_checkpoint $root/tests/golden/depth_anything_v2/depth_anything_v2_tiny_relative.pth
# image: the first byte picks the decoder (even: RGB, odd: 16-bit depth PNG).
mkdir -p seeds/image
for f in seed_images/*.png seed_images/*.jpg $root/sample_episodes/sim_native/episode_000/rgb/agentview/000000.png; do
  { printf '\000'; cat "$f"; } > "seeds/image/rgb-$(basename "$f")"
done
for f in seed_images/depth_*.png $root/sample_episodes/sim_native/episode_000/depth/agentview/000000.png; do
  { printf '\001'; cat "$f"; } > "seeds/image/depth-$(basename "$f")"
done
mk image seeds/image/*
targets="tfrecord rlds_features native_episode lerobot_info lerobot_table safetensors model_json mp4 hdf5 image rlbench_pickle pth_checkpoint"
limits="-timeout=30 -rss_limit_mb=6144 -malloc_limit_mb=6144 -max_len=1048576"
for t in ${TARGETS:-$targets}; do
  if [ -n "${RUNS:-}" ]; then budget="-runs=$RUNS"; else budget="-max_total_time=$secs"; fi
  echo "== $t"
  cargo +nightly fuzz run --sanitizer none --release "$t" "corpus/$t" -- $limits $budget -print_final_stats=1 2>&1 \
    | grep -E "^(==|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|Done|INFO: (seed|loaded))|ERROR|panicked|SUMMARY" || true
  # crash-, timeout- and oom- files are failures; slow-unit- files (over 10 s) are reported only.
  if ls "artifacts/$t" 2>/dev/null | grep -qE '^(crash|timeout|oom|leak)-'; then
    echo "fuzz: $t found a failing input in fuzz/artifacts/$t"; exit 1
  fi
  if ls "artifacts/$t" 2>/dev/null | grep -q '^slow-unit-'; then
    echo "fuzz: $t: inputs slower than 10 s (not failures) in fuzz/artifacts/$t"
  fi
done
