# Sourced by the tools that compare openpace's open-model rate with a closed-loop tool's
# (compare-wrk.sh, compare-redis.sh).
#
#   highest_held BASE   calls the caller's `probe RATE` (which sets ok=yes|no) at 0.9 x BASE,
#                       then in steps of 5% of BASE up (or down, if 0.9 x fails) until one
#                       rate holds and the next does not, then bisects twice: sets `best` to
#                       the highest rate that held, known to within about 1.25% (0: none did,
#                       down to 0.5 x).

highest_held() {
    local base=$1 failed=0 step=0 rate
    best=0
    while :; do
        rate=$(python3 -c "print(int($base * (0.9 + 0.05 * $step)))")
        probe "$rate"
        if [ "$ok" = yes ]; then
            best=$rate
            [ "$failed" -gt 0 ] && break
            step=$((step + 1))
        else
            failed=$rate
            [ "$best" -gt 0 ] && break
            step=$((step - 1))
            [ "$step" -lt -8 ] && break
        fi
    done
    for _ in 1 2; do
        [ "$best" -gt 0 ] && [ "$failed" -gt "$best" ] || break
        rate=$(((best + failed) / 2))
        probe "$rate"
        if [ "$ok" = yes ]; then best=$rate; else failed=$rate; fi
    done
}
