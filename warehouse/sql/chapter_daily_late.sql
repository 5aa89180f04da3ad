-- chapter_daily_late: chapter_daily (chapter_daily.sql) for the videos whose views of the day
-- late data changed, from their stored rows and the changed views instead of all the day's
-- views.
-- Grain: chapter (video_id, chapter_index) x UTC day; partition day; rows for the chapters of
-- the videos in `scope` still viewed that day (`viewed`).
-- Every figure but the rate is additive over views: the stored figures, plus chapter_daily.sql's
-- over the views that come (`come`), minus its figures over the views that go (`gone`), in
-- the same exact DECIMAL seconds, so they equal a recompute's bit for bit.
-- Inputs: previous (chapter_daily of the day), come, gone, viewed (video_id), scope (video_id).
-- Variables: day (DATE).
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
        chapter_index,
        any_value(title) AS title,
        any_value(start_s) AS start_s,
        any_value(end_s) AS end_s,
        sum(CASE WHEN src = 'gone' THEN -views_reaching ELSE views_reaching END)
            AS views_reaching,
        sum(CASE WHEN src = 'gone' THEN -1 ELSE 1 END * watch_time_s::DECIMAL(18, 3))
            AS watch_time_s,
        sum(CASE WHEN src = 'gone' THEN -drop_off ELSE drop_off END) AS drop_off
    FROM counts
    GROUP BY video_id, chapter_index
)
SELECT
    video_id,
    chapter_index,
    title,
    start_s,
    end_s,
    views_reaching,
    watch_time_s,
    drop_off,
    drop_off / nullif(views_reaching, 0) AS drop_off_rate,
    getvariable('day') AS day
FROM summed
WHERE video_id IN (SELECT video_id FROM viewed)
