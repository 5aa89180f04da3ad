-- video_daily_late: video_daily (video_daily.sql) for the videos whose views of the day late
-- data changed, from their stored rows and the changed views instead of all the day's views.
-- Grain: video x UTC day; partition day; rows for the videos in `scope` still viewed that day.
-- Counts and sums are additive over views: the stored figures, plus video_daily.sql's over the
-- views that come (`come`), minus its figures over the views that go (`gone`). Seconds are
-- summed as the same exact DECIMALs, so every figure equals a recompute's, bit for bit.
-- unique_viewers: the stored count, plus the late users who now view the video and did not
-- before, minus those who did and no longer do (only their views changed). The startup
-- quantiles are not additive: they are computed from `startups`, the startup times of all
-- the videos' views of the day, as they are now.
-- Inputs: previous (video_daily of the day), come, gone, viewers_before and viewers_after
-- (user_id, video_id of the late users' views of the day), startups (video_id,
-- startup_time_s), scope (video_id). Variables: day (DATE).
WITH counts AS (
    SELECT 'previous' AS src, * FROM previous WHERE video_id IN (SELECT video_id FROM scope)
    UNION ALL BY NAME
    SELECT 'come' AS src, * FROM come
    UNION ALL BY NAME
    SELECT 'gone' AS src, * FROM gone
),
summed AS (
    SELECT
        video_id,
        sum(CASE WHEN src = 'gone' THEN -views ELSE views END) AS views,
        sum(CASE WHEN src = 'gone' THEN -exits_before_start ELSE exits_before_start END)
            AS exits_before_start,
        sum(CASE WHEN src = 'gone' THEN -startup_failures ELSE startup_failures END)
            AS startup_failures,
        sum(unique_viewers) FILTER (WHERE src = 'previous') AS unique_viewers,
        sum(CASE WHEN src = 'gone' THEN -1 ELSE 1 END * watch_time_s::DECIMAL(18, 3))
            AS watch_time_s,
        sum(CASE WHEN src = 'gone' THEN -completions ELSE completions END) AS completions,
        sum(CASE WHEN src = 'gone' THEN -1 ELSE 1 END * rebuffer_time_s::DECIMAL(18, 3))
            AS rebuffer_time_s,
        sum(CASE WHEN src = 'gone' THEN -errors ELSE errors END) AS errors
    FROM counts
    GROUP BY video_id
),
moved AS (
    SELECT video_id, sum(d) AS d
    FROM (
        SELECT DISTINCT video_id, user_id, 1 AS d FROM viewers_after
        UNION ALL
        SELECT DISTINCT video_id, user_id, -1 AS d FROM viewers_before
    )
    GROUP BY video_id
),
quantiles AS (
    SELECT
        video_id,
        quantile_cont(startup_time_s::DOUBLE, 0.5) AS startup_time_p50_s,
        quantile_cont(startup_time_s::DOUBLE, 0.95) AS startup_time_p95_s
    FROM startups
    GROUP BY video_id
)
SELECT
    s.video_id,
    s.views,
    s.exits_before_start,
    s.startup_failures,
    coalesce(s.unique_viewers, 0) + coalesce(m.d, 0) AS unique_viewers,
    s.watch_time_s,
    s.watch_time_s / s.views AS avg_watch_time_s,
    s.completions,
    s.completions / s.views AS completion_rate,
    q.startup_time_p50_s,
    q.startup_time_p95_s,
    s.rebuffer_time_s,
    s.rebuffer_time_s / nullif(s.watch_time_s + s.rebuffer_time_s, 0) AS rebuffer_ratio,
    s.errors,
    getvariable('day') AS day
FROM summed s
LEFT JOIN moved m USING (video_id)
LEFT JOIN quantiles q USING (video_id)
WHERE s.views > 0
