-- video_viewers: who viewed each video on each UTC day (exact unique viewers over any range
-- are count(DISTINCT user_id) over these rows, never a sum of daily uniques).
-- Grain: video x viewer x UTC day; partition day.
-- Inputs: views. Variables: day (DATE).
SELECT video_id, user_id, count(*) AS views, getvariable('day') AS day
FROM views
WHERE day = getvariable('day')
GROUP BY video_id, user_id
