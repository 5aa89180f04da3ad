-- course_progress: per student and course (SPEC §5), from the catalog's course structure and the
-- `started` / `completed` watch milestones.
-- Grain: student (user) x course; unpartitioned; recomputed whole.
-- A student is a user with a started or completed milestone on a lesson of the course.
-- Lessons are catalog videos with a course_id; a lesson is required unless required = false.
-- lessons_completed  required lessons with a `completed` milestone (any cycle); marking a lesson
--                    watched by hand does not complete it
-- progress           lessons_completed / required_lessons (NULL if the course requires none)
-- modules            per module: required lessons, completed ones, and whether all are done
-- completed_at       when the last required lesson was first completed, once all are
-- creator_id         the creator of the course's lessons (the most common, ties by id)
-- Inputs: milestones, catalog.
WITH lessons AS (
    SELECT video_id, course_id, module_id, coalesce(required, true) AS required, creator_id
    FROM catalog
    WHERE course_id IS NOT NULL
),
m AS (
    SELECT user_id, video_id, milestone, ts
    FROM milestones
    WHERE milestone IN ('started', 'completed')
      AND video_id IN (SELECT video_id FROM lessons)
),
done AS (
    SELECT user_id, video_id, min(ts) AS first_completed_at
    FROM m
    WHERE milestone = 'completed'
    GROUP BY user_id, video_id
),
students AS (
    SELECT m.user_id, l.course_id, min(m.ts) AS started_at, max(m.ts) AS last_activity_at
    FROM m
    JOIN lessons l USING (video_id)
    GROUP BY m.user_id, l.course_id
),
per_lesson AS (
    SELECT s.user_id, s.course_id, l.module_id, l.required, d.first_completed_at
    FROM students s
    JOIN lessons l USING (course_id)
    LEFT JOIN done d ON d.user_id = s.user_id AND d.video_id = l.video_id
),
per_module AS (
    SELECT
        user_id,
        course_id,
        module_id,
        count(*) FILTER (WHERE required) AS lessons_required,
        count(first_completed_at) FILTER (WHERE required) AS lessons_completed,
        max(first_completed_at) FILTER (WHERE required) AS last_completed_at
    FROM per_lesson
    GROUP BY user_id, course_id, module_id
),
per_course AS (
    SELECT
        user_id,
        course_id,
        sum(lessons_required) AS required_lessons,
        sum(lessons_completed) AS lessons_completed,
        count(*) FILTER (WHERE lessons_required > 0) AS modules_total,
        count(*) FILTER (WHERE lessons_required > 0 AND lessons_completed = lessons_required)
            AS modules_completed,
        list(
            struct_pack(
                module_id := module_id,
                lessons_required := lessons_required,
                lessons_completed := lessons_completed,
                completed := lessons_required > 0 AND lessons_completed = lessons_required
            )
            ORDER BY module_id NULLS FIRST
        ) AS modules,
        max(last_completed_at) AS last_completed_at
    FROM per_module
    GROUP BY user_id, course_id
),
owners AS (
    SELECT course_id, creator_id
    FROM (SELECT course_id, creator_id, count(*) AS n FROM lessons GROUP BY ALL)
    QUALIFY row_number() OVER (PARTITION BY course_id ORDER BY n DESC, creator_id NULLS LAST) = 1
)
SELECT
    c.user_id,
    c.course_id,
    o.creator_id,
    c.required_lessons,
    c.lessons_completed,
    c.lessons_completed / nullif(c.required_lessons, 0) AS progress,
    c.modules_total,
    c.modules_completed,
    c.modules,
    c.required_lessons > 0 AND c.lessons_completed = c.required_lessons AS completed,
    CASE WHEN c.required_lessons > 0 AND c.lessons_completed = c.required_lessons
        THEN c.last_completed_at END AS completed_at,
    s.started_at,
    s.last_activity_at
FROM per_course c
JOIN students s USING (user_id, course_id)
LEFT JOIN owners o USING (course_id)
