#!/bin/sh
# make-default-model.sh -- build data/memllm-default.gguf, the bundled default model, from
# nothing but this repository (and, when present, ../shared/data/redocred): a tokenizer,
# synthetic training examples, Re-DocRED examples, memllm train, memllm quantize.
# Usage: data/make-default-model.sh MEMLLM WORKDIR [STEPS]
#   MEMLLM   the memllm binary (e.g. src/memllm of a build)
#   WORKDIR  scratch directory for data, checkpoints and logs (kept between runs)
# A run that is stopped (Ctrl-C, a session's end) resumes from WORKDIR/model.gguf.ckpt when
# started again with the same arguments.  `make default-model` runs it.
set -eu
B=$1
W=$2
STEPS=${3:-6500}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$W"
rd=${MEMLLM_SHARED:-$here/../../shared}/data/redocred
rd_json=$rd/dev_revised.json

# 1. data (deterministic: the same seeds give the same files)
if [ ! -s "$W/all.jsonl" ]; then
    "$B" train-data synthetic --out="$W/syn-tok.jsonl" --examples=60000 --seed=99 \
        --facts="$here/seed-facts.tsv"
    : > "$W/rd-train.jsonl"
    if [ -r "$rd_json" ]; then
        "$B" train-data redocred --input="$rd_json" --split="$here/redocred-split.txt" \
            --out-train="$W/rd-train.jsonl" --out-eval="$W/rd-eval.jsonl" \
            --context-sents=1 --read-to-sentence-end --reads-in-context
    else
        echo "make-default-model: $rd_json not found: training without Re-DocRED" >&2
    fi
    "$B" train-tokenizer --vocab-size=4096 --out="$W/tok.gguf" --user-token='>>' \
        --user-token='MEM_READ(' --user-token='MEM_WRITE' --user-token='USER_ST' \
        --user-token='USER_END' "$W/syn-tok.jsonl" "$W/rd-train.jsonl"
    "$B" train-data synthetic --out="$W/syn.jsonl" --examples=800000 --seed=1 \
        --facts="$here/seed-facts.tsv" --tokenizer="$W/tok.gguf" \
        --zsre-out="$W/zsre.json" --zsre-records=300 \
        --docred-out="$W/docs.json" --docred-docs=300
    "$B" train-data synthetic --out="$W/syn-eval.jsonl" --examples=3000 --seed=2 \
        --facts="$here/seed-facts.tsv"
    # Re-DocRED three times over: about a tenth of the tokens
    cat "$W/syn.jsonl" "$W/rd-train.jsonl" "$W/rd-train.jsonl" "$W/rd-train.jsonl" \
        > "$W/all.jsonl.tmp"
    mv "$W/all.jsonl.tmp" "$W/all.jsonl"
fi

# 2. training (resumes from the checkpoint when there is one)
resume=
if [ -s "$W/model.gguf.ckpt" ]; then
    resume=--resume="$W/model.gguf.ckpt"
fi
nl='
'
"$B" --threads="${MEMLLM_TRAIN_THREADS:-2}" train --vocab-from="$W/tok.gguf" $resume \
    --dim=256 --layers=6 --heads=8 --kv-heads=4 --ffn=704 --ctx=256 \
    --data="$W/all.jsonl" --eval-data="$W/syn-eval.jsonl" --eval-every=500 \
    --steps="$STEPS" --batch=16 --lr=1.5e-3 --lr-min=1e-4 --warmup=300 --seed=1 \
    --save-every-min=10 --log-every=50 \
    --meta="memllm.template.ask=Q: {question}${nl}A:" \
    --meta='memllm.template.write={context}({USER_ST}){sentence}({USER_END})' \
    --meta-u32=memllm.write.context_sents=1 \
    --meta=general.name=memllm-default \
    --out="$W/model.gguf"

# 3. ship: Q8_0
# greedy decoding by default: a small model is most reliable that way
"$B" quantize --meta-f32=memllm.sampling.temperature=0 "$W/model.gguf" \
    "$W/memllm-default.gguf" Q8_0
echo "make-default-model: $W/memllm-default.gguf (copy it to data/)"
