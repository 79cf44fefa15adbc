#!/bin/bash
# C-STORE ingest benchmark, all in one run on this machine: our receiver
# (aisedge receive: fsync of every instance and its directory entry before
# the response, DirStore) against dcmtk storescp (no fsync) and Orthanc
# (Debian defaults, SyncStorageArea on); and the whole pipeline (aisedge
# run: the original durable in its journal before the response, then
# facility backup, de-identification, gate and spool; timed until every
# de-identified copy is in the spool) against Orthanc with a de-identification Lua hook
# in the original system's shape (bench/dimse/orthanc/deid_hook.lua: timed
# until the hook has finished every instance). Each is fed by dcmtk storescu (one
# association, --repeat N +II: storescu invents a new SOP Instance UID for
# every send) and by aisedge send (one association, and PAR parallel
# associations). dcmtk tools and Orthanc run with TCP_NODELAY=1.
#
# Workloads: small = 2,000 x 9.7 kB MR, ct = 400 x 531 kB CT. The templates
# and the N distinct copies aisedge send reads are made from the
# repository's samples by bench/dimse/benchdata (small_MR = pydicom
# MR_small, ct512 = pydicom CT_small upscaled to 512x512 with noise).
#
# usage: bench/dimse/cstore_bench.sh            (RUNS=3 PAR=4 WORKLOADS="small ct" N_SMALL=2000 N_CT=400
#                                                PORT=11112 HPORT=18042 BENCH_DIR=/tmp/aisedge-cstore-bench)
#        RUNS=1 SERVERS="aisedge storescp" bench/dimse/cstore_bench.sh
#        SMOKE=1 bench/dimse/cstore_bench.sh    (seconds: 1 run of 4 CT through every server and
#                                                sender, same output; WORKLOADS="small ct" adds 20 MR)
# Prints one line per run, then medians and the ratios receive/storescp,
# receive/orthanc, run/orthanc and run/orthanc-lua per workload and sender,
# then the server's and the sender's CPU per instance and the rate the cores
# would allow at that cost (the ceiling a missed target is read against).
# Exits 1 when a sender failed or a server stored (or de-identified) fewer
# instances than were sent.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SMOKE=${SMOKE:-0}
WORK=${BENCH_DIR:-/tmp/aisedge-cstore-bench}
SETTLE=0.3 # seconds between a server's start and the sender's
DRAIN=0.2  # and between the sender's exit and the server's CPU reading
if [ "$SMOKE" = 1 ]; then
  RUNS=${RUNS:-1}; WORKLOADS=${WORKLOADS:-ct}; N_SMALL=${N_SMALL:-20}; N_CT=${N_CT:-4}; SETTLE=0.05; DRAIN=0.05
  WORK=${BENCH_DIR:-/tmp/aisedge-cstore-bench-smoke}
fi
RUNS=${RUNS:-3}
PAR=${PAR:-4}
WORKLOADS=${WORKLOADS:-"small ct"}
SERVERS=${SERVERS:-"aisedge storescp orthanc run orthanc-lua"}
SENDERS=${SENDERS:-"storescu aisedge aisedge-p$PAR"}
PORT=${PORT:-11112}
HPORT=${HPORT:-18042}
export PATH=/usr/local/go/bin:$PATH

for b in storescu storescp Orthanc curl ss go; do
  command -v $b >/dev/null || { echo "missing $b (apt-get install -y dcmtk orthanc curl iproute2; Go in /usr/local/go)" >&2; exit 1; }
done
mkdir -p $WORK/out
(cd $ROOT && go build -o $WORK/aisedge ./cmd/aisedge && go build -o $WORK/benchdata ./bench/dimse/benchdata) || exit 1

# Templates are remade on every run (well under a second); the copies only
# when their template or their count changed.
TPL=$WORK/tpl
(cd $ROOT && $WORK/benchdata templates $TPL) || exit 1
declare -A FILE=([small]=$TPL/small_MR.dcm [ct]=$TPL/ct512.dcm)
declare -A COUNT=([small]=${N_SMALL:-2000} [ct]=${N_CT:-400})
for wl in $WORKLOADS; do
  [ -n "${FILE[$wl]:-}" ] || { echo "unknown workload $wl (small, ct)" >&2; exit 1; }
  if ! cmp -s ${FILE[$wl]} $WORK/copies/$wl.tpl || [ $(ls $WORK/copies/$wl 2>/dev/null | wc -l) -ne ${COUNT[$wl]} ]; then
    rm -rf $WORK/copies/$wl $WORK/copies/$wl.tpl
    $WORK/benchdata copies ${FILE[$wl]} $WORK/copies/$wl ${COUNT[$wl]} || exit 1
    cp ${FILE[$wl]} $WORK/copies/$wl.tpl
  fi
  cat $WORK/copies/$wl/* > /dev/null   # warm the page cache for the sender
done

wait_port() { for i in $(seq 1 200); do ss -ltn | grep -q ":$1 " && return 0; sleep 0.05; done; return 1; }

start_server() { # SERVER OUT
  local srv=$1 out=$2
  case $srv in
    aisedge)
      $WORK/aisedge receive --dir $out/store --listen 127.0.0.1:$PORT --log-level warn > $out/server.log 2>&1 & SPID=$! ;;
    storescp)
      env TCP_NODELAY=1 storescp -aet AISEDGE -od $out/store $PORT > $out/server.log 2>&1 & SPID=$! ;;
    run)
      # A fixed de-identification key (a benchmark, not a site); studies
      # stay open (quiet period 1 h) so the run measures ingest alone.
      env AIS_DEID_HMAC_SALT=5be0c3a1d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f \
        $WORK/aisedge run --data-dir $out/run --listen 127.0.0.1:$PORT --http 127.0.0.1:$HPORT \
        --quiet-period 1h --min-free-bytes 0 > $out/server.log 2>&1 & SPID=$! ;;
    orthanc|orthanc-lua)
      local lua=""
      if [ $srv = orthanc-lua ]; then
        sed -e "s|BACKUP_DIR|$out/backup|" -e "s|DONE_FILE|$out/done|" $ROOT/bench/dimse/orthanc/deid_hook.lua > $out/hook.lua
        : > $out/done; lua="\"$out/hook.lua\""
      fi
      cat > $out/orthanc.json <<J
{ "Name":"bench", "StorageDirectory":"$out/store", "IndexDirectory":"$out/store", "Plugins":[], "LuaScripts":[$lua],
  "HttpPort":$HPORT, "RemoteAccessAllowed":false, "DicomAet":"AISEDGE", "DicomPort":$PORT, "SyncStorageArea":true }
J
      env TCP_NODELAY=1 Orthanc $out/orthanc.json > $out/server.log 2>&1 & SPID=$!
      for i in $(seq 1 200); do curl -sf http://127.0.0.1:$HPORT/system >/dev/null && break; sleep 0.05; done ;;
  esac
  wait_port $PORT || { echo "$srv did not start" >&2; cat $out/server.log >&2; exit 1; }
}

stored_count() { # SERVER OUT
  case $1 in
    orthanc) curl -s http://127.0.0.1:$HPORT/statistics | tr -d ' \n' | sed -n 's/.*"CountInstances":\([0-9]*\).*/\1/p' ;;
    orthanc-lua) wc -l < $2/done ;;
    aisedge) find $2/store -maxdepth 1 -name '*.dcm' | wc -l ;;
    run) find $2/run/edge/spool/objects -name '*.dcm' | wc -l ;;
    *) find $2/store -type f | wc -l ;;
  esac
}

# wait_stored SERVER OUT N: until the server has N instances, giving up
# after 30 s without progress.
wait_stored() {
  local last=-1 still=0 now
  while now=$(stored_count $1 $2); [ $now -lt $3 ] && [ $still -lt 300 ]; do
    if [ $now = $last ]; then still=$((still+1)); else still=0; last=$now; fi
    sleep 0.1
  done
}

# send SENDER WORKLOAD N FILE OUT: one sender's whole send.
send() {
  local snd=$1 wl=$2 n=$3 f=$4 out=$5
  case $snd in
    storescu)
      env TCP_NODELAY=1 storescu -aet SCANNER1 -aec AISEDGE -R --repeat $n +II +IR 100 127.0.0.1 $PORT $f > $out/scu.log 2>&1 ;;
    aisedge)
      $WORK/aisedge send --quiet --aet SCANNER1 --called-aet AISEDGE 127.0.0.1:$PORT $WORK/copies/$wl > $out/scu.log 2>&1 ;;
    aisedge-p*)
      $WORK/aisedge send --quiet --parallel ${snd#aisedge-p} --aet SCANNER1 --called-aet AISEDGE 127.0.0.1:$PORT $WORK/copies/$wl > $out/scu.log 2>&1 ;;
  esac
}

RESULTS=$WORK/results.txt; : > $RESULTS
run_one() { # SERVER SENDER WORKLOAD RUN
  local srv=$1 snd=$2 wl=$3 run=$4
  local out=$WORK/out/$srv-$snd-$wl-$run n=${COUNT[$wl]} f=${FILE[$wl]}
  rm -rf $out; mkdir -p $out/store
  # What creating a file costs in this run's folder (it varies with where
  # the file system put the folder; every server creates files per instance).
  local mk=$($WORK/benchdata createcost $out/.probe 2>/dev/null || echo 0); rmdir $out/.probe 2>/dev/null
  start_server $srv $out
  sleep $SETTLE
  read -r u0 s0 < <(awk '{print $14, $15}' /proc/$SPID/stat)
  local t0=$(date +%s.%N) rc
  # The sender's CPU (user and system, bash's time) shares the cores.
  local TIMEFORMAT='%U %S'
  { time send $snd $wl $n $f $out; } 2> $out/snd.time; rc=$?
  # The Lua hook works after each C-STORE is answered: timed until it has
  # finished every instance. aisedge run answers once the original is in
  # its journal and de-identifies after: timed likewise, until every
  # de-identified copy is in its spool.
  case $srv in orthanc-lua|run) wait_stored $srv $out $n ;; esac
  local t1=$(date +%s.%N)
  sleep $DRAIN
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/$SPID/stat)
  local hwm=$(awk '/VmHWM/{print $2}' /proc/$SPID/status)
  local cnt=$(stored_count $srv $out)
  # Orthanc's graceful stop takes 3-4 s; after the count it no longer
  # matters how the server ends.
  case $srv in orthanc*) kill -KILL $SPID ;; *) kill $SPID ;; esac
  wait $SPID 2>/dev/null
  local bytes=$(( $(stat -c %s $f) * n ))
  awk -v s=$srv -v c=$snd -v wl=$wl -v run=$run -v n=$n -v b=$bytes -v t0=$t0 -v t1=$t1 -v cnt=$cnt -v h=$hwm \
      -v cpu=$(( (u1-u0)+(s1-s0) )) -v tk=$(getconf CLK_TCK) -v rc=$rc -v snd="$(cat $out/snd.time)" -v mk=$mk 'BEGIN{
    split(snd, sc, " ")
    w=t1-t0; printf "%-11s %-11s %-5s run=%s n=%d wall=%.2fs inst/s=%.0f MB/s=%.1f stored=%d srvCPU=%.2fs srvRSS=%dMiB rc=%d sndCPU=%.2fs mkfile=%dus\n",
      s, c, wl, run, n, w, n/w, b/1e6/w, cnt, cpu/tk, h/1024, rc, sc[1]+sc[2], mk }' | tee -a $RESULTS
  rm -rf $out/store $out/run $out/backup
}

echo "== C-STORE benchmark: $(nproc) cores, RUNS=$RUNS, $(date -u +%FT%TZ), aisedge $(cd $ROOT && git rev-parse --short HEAD 2>/dev/null || echo unknown)$([ "$SMOKE" = 1 ] && echo ", SMOKE (tiny counts: a format check, not figures)")"
for run in $(seq 1 $RUNS); do
  for wl in $WORKLOADS; do
    for srv in $SERVERS; do
      for snd in $SENDERS; do
        run_one $srv $snd $wl $run
      done
    done
  done
done

echo
echo "== medians (inst/s, MB/s) and ratios"
awk '
{ key=$1" "$2" "$3; split($7,a,"="); split($8,b,"="); ips[key]=ips[key]" "a[2]; mbs[key]=mbs[key]" "b[2];
  split($9,c,"="); split($5,d,"="); if (c[2]+0 != d[2]+0) bad[key]++
  split($10,sv,"="); split($13,sn,"="); srv[key]=srv[key]" "1000*sv[2]/d[2]; snd[key]=snd[key]" "1000*sn[2]/d[2]
  split($14,mf,"="); mkf[key]=mkf[key]" "(mf[2]+0) }
function median(s,   n,v,i,j,t) { n=split(s,v," "); for(i=1;i<=n;i++)for(j=i+1;j<=n;j++)if(v[j]+0<v[i]+0){t=v[i];v[i]=v[j];v[j]=t}
  return (n%2)?v[(n+1)/2]:(v[n/2]+v[n/2+1])/2 }
END {
  for (k in ips) { split(k,p," "); m[k]=median(ips[k]); mb[k]=median(mbs[k]); printf "%-11s %-11s %-5s inst/s=%7.0f MB/s=%6.1f%s\n", p[1],p[2],p[3], m[k], mb[k], (bad[k]?"  INCOMPLETE STORE":"") | "sort" }
  close("sort"); print ""
  for (k in m) { split(k,p," "); if (p[1]!="aisedge") continue
    s="storescp "p[2]" "p[3]; o="orthanc "p[2]" "p[3]
    printf "%-5s sender=%-11s receive/storescp=%s  receive/orthanc=%s\n", p[3], p[2], (s in m)?sprintf("%.2f",m[k]/m[s]):"-", (o in m)?sprintf("%.2f",m[k]/m[o]):"-" | "sort" }
  close("sort"); print ""
  for (k in m) { split(k,p," "); if (p[1]!="run") continue
    o="orthanc "p[2]" "p[3]; l="orthanc-lua "p[2]" "p[3]
    printf "%-5s sender=%-11s run/orthanc=%s  run/orthanc-lua=%s\n", p[3], p[2], (o in m)?sprintf("%.2f",m[k]/m[o]):"-", (l in m)?sprintf("%.2f",m[k]/m[l]):"-" | "sort" }
  close("sort"); print ""
  # What the CPU allows: with every core busy and nothing else running,
  # the rate cannot pass cores / (server + sender CPU per instance).
  print "CPU per instance (ms, medians), the rate "cores" cores allow at that cost, and one file creation'"'"'s CPU in the run'"'"'s folder"
  for (k in m) { split(k,p," "); cs=median(srv[k]); cn=median(snd[k])
    printf "%-11s %-11s %-5s server=%6.2f sender=%6.2f ceiling=%7.0f inst/s mkfile=%dus\n", p[1],p[2],p[3], cs, cn, (cs+cn>0)?cores*1000/(cs+cn):0, median(mkf[k]) | "sort" }
}' cores=$(nproc) $RESULTS

# A run that failed or stored less than it sent makes its figures
# meaningless: say which and fail.
awk '{ split($5,n,"="); split($9,c,"="); split($12,r,"=");
  if (r[2] != 0 || c[2]+0 != n[2]+0) { printf "FAILED: %s %s %s %s: %s, %s\n", $1, $2, $3, $4, $9, $12; bad = 1 } }
  END { exit bad }' $RESULTS >&2
