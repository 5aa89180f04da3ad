-- creator_daily: per creator and UTC day (SPEC §5); a video's creator is its catalog
-- creator_id (videos without one are left out).
-- Grain: creator x UTC day; partition day.
-- unique_viewers  distinct users who viewed any of the creator's videos that day (exact)
-- completion_rate completions / views
-- Inputs: video_daily, video_viewers, catalog. Variables: day (DATE).
WITH owned AS (
    SELECT video_id, creator_id FROM catalog WHERE creator_id IS NOT NULL
),
totals AS (
    SELECT
        o.creator_id,
        count(*) AS videos_viewed,
        sum(d.views) AS views,
        sum(d.watch_time_s::DECIMAL(18, 3)) AS watch_time_s,
        sum(d.completions) AS completions,
        sum(d.exits_before_start) AS exits_before_start
    FROM video_daily d
    JOIN owned o USING (video_id)
    WHERE d.day = getvariable('day')
    GROUP BY o.creator_id
),
uniques AS (
    SELECT o.creator_id, count(DISTINCT v.user_id) AS unique_viewers
    FROM video_viewers v
    JOIN owned o USING (video_id)
    WHERE v.day = getvariable('day')
    GROUP BY o.creator_id
)
SELECT
    t.creator_id,
    t.videos_viewed,
    t.views,
    u.unique_viewers,
    t.watch_time_s,
    t.watch_time_s / t.views AS avg_watch_time_s,
    t.completions,
    t.completions / t.views AS completion_rate,
    t.exits_before_start,
    getvariable('day') AS day
FROM totals t
JOIN uniques u USING (creator_id)
