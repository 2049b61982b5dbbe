# bench/run.sh's plot: median wall time, CPU time and peak RSS against input
# bytes, log-log.
#
#   gnuplot -e "data='DIR'; out='FILE.svg'; hello_t=MS; hello_m=MB; hello_c=MS" bench/plot.gp
#
# DIR holds one file per line of the plot ("bytes median_s rss_kib cpu_s",
# sorted by bytes; see plot() in bench/run.sh); hello_t, hello_m and hello_c
# are the Go hello-world's median (ms), peak RSS (MB) and CPU (ms), or NaN.
set terminal svg size 1500,560 dynamic enhanced font "sans,11" background "white"
set output out
set multiplot layout 1,3 title "sshconverge agent --check against OpenSSH, by input size"
set logscale xy
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set xlabel "input (bytes of configuration)"
set format x "10^{%L}"
set format y "%g"
set key below maxrows 4 reverse Left samplen 2 font ",9"
set style line 1 lc rgb "#1f77b4" lw 2 pt 7 ps 0.6
set style line 2 lc rgb "#1f77b4" lw 2 pt 6 ps 0.6 dt 2
set style line 3 lc rgb "#d62728" lw 2 pt 5 ps 0.6
set style line 4 lc rgb "#d62728" lw 2 pt 4 ps 0.6 dt 2
set style line 5 lc rgb "#000000" lw 2 pt 2 ps 1.2
set style line 6 lc rgb "#777777" lw 1 dt 3
set style line 7 lc rgb "#2ca02c" lw 1 dt 4

set title "median wall time (hyperfine)"
set ylabel "ms"
plot data."/agent-ssh.dat" using 1:($2*1000) with linespoints ls 1 title "agent --check, ssh\\_config", \
     data."/sshg.dat" using 1:($2*1000) with linespoints ls 2 title "ssh -G, same file", \
     data."/agent-dropins.dat" using 1:($2*1000) with linespoints ls 3 title "agent --check, sshd drop-ins", \
     data."/sshdT.dat" using 1:($2*1000) with linespoints ls 4 title "sshd -T, same drop-ins", \
     data."/agent-dropins-failed.dat" using 1:($2*1000) with points ls 5 title "agent --check exits 1", \
     hello_t with lines ls 6 title "static Go hello-world"

set title "CPU time, user + system (hyperfine's mean)"
set ylabel "ms"
plot data."/agent-ssh.dat" using 1:($4*1000) with linespoints ls 1 title "agent --check, ssh\\_config", \
     data."/sshg.dat" using 1:($4*1000) with linespoints ls 2 title "ssh -G, same file", \
     data."/agent-dropins.dat" using 1:($4*1000) with linespoints ls 3 title "agent --check, sshd drop-ins", \
     data."/sshdT.dat" using 1:($4*1000) with linespoints ls 4 title "sshd -T, same drop-ins", \
     data."/agent-dropins-failed.dat" using 1:($4*1000) with points ls 5 title "agent --check exits 1", \
     hello_c with lines ls 6 title "static Go hello-world"

set title "peak resident set (GNU time)"
set ylabel "MB"
set yrange [1:*]
plot data."/agent-ssh.dat" using 1:($3*1024/1e6) with linespoints ls 1 title "agent --check, ssh\\_config", \
     data."/sshg.dat" using 1:($3*1024/1e6) with linespoints ls 2 title "ssh -G, same file", \
     data."/agent-dropins.dat" using 1:($3*1024/1e6) with linespoints ls 3 title "agent --check, sshd drop-ins", \
     data."/sshdT.dat" using 1:($3*1024/1e6) with linespoints ls 4 title "sshd -T, same drop-ins", \
     data."/agent-dropins-failed.dat" using 1:($3*1024/1e6) with points ls 5 title "agent --check exits 1", \
     10*x/1e6 with lines ls 7 title "target: 10 bytes per input byte", \
     hello_m with lines ls 6 title "static Go hello-world"
unset multiplot
