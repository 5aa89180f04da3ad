-- video_daily: per video and UTC day (SPEC §5).
-- Grain: video x UTC day; partition day.
-- views               views (sessions with a start or play) that started this day
-- exits_before_start  views that never played a second, without an error
-- startup_failures    views that never played a second, with an error
-- unique_viewers      distinct users among the views (exact)
-- watch_time_s        wall-clock seconds playing, summed over the views
-- avg_watch_time_s    watch_time_s / views
-- completions         views that completed their cycle (SessionRecord.completed)
-- completion_rate     completions / views
-- startup_time_p50_s, startup_time_p95_s
--                     continuous quantiles (linear interpolation) of startup_time_s over views
--                     that played
-- rebuffer_ratio      rebuffer_time_s / (watch_time_s + rebuffer_time_s); NULL when both are 0
-- errors              error events in the views
-- Seconds are summed as DECIMAL (millisecond precision): exact, so a recomputation gives
-- bit-identical figures whatever order parallel threads add rows in.
-- Inputs: views. Variables: day (DATE).
SELECT
    video_id,
    count(*) AS views,
    count(*) FILTER (WHERE exited_before_start) AS exits_before_start,
    count(*) FILTER (WHERE NOT played AND errors > 0) AS startup_failures,
    count(DISTINCT user_id) AS unique_viewers,
    sum(watch_time_s::DECIMAL(18, 3)) AS watch_time_s,
    sum(watch_time_s::DECIMAL(18, 3)) / count(*) AS avg_watch_time_s,
    count(*) FILTER (WHERE completed) AS completions,
    count(*) FILTER (WHERE completed) / count(*) AS completion_rate,
    quantile_cont(startup_time_s::DOUBLE, 0.5) AS startup_time_p50_s,
    quantile_cont(startup_time_s::DOUBLE, 0.95) AS startup_time_p95_s,
    sum(rebuffer_time_s::DECIMAL(18, 3)) AS rebuffer_time_s,
    sum(rebuffer_time_s::DECIMAL(18, 3))
        / nullif(sum(watch_time_s::DECIMAL(18, 3)) + sum(rebuffer_time_s::DECIMAL(18, 3)), 0) AS rebuffer_ratio,
    sum(errors) AS errors,
    getvariable('day') AS day
FROM views
WHERE day = getvariable('day')
GROUP BY video_id
