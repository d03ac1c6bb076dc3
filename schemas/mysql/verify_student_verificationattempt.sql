-- verify_student_verificationattempt: final state after edX verify_student migrations
-- 0015 and 0016_remove_verificationattempt_created_and_more
-- (lms/djangoapps/verify_student/migrations). See README.md in this folder.
--
-- No foreign key kept: the foreign key user_id -> auth_user.id that edX has is left out
-- so that this file loads without auth_user; its index is kept. Any order.

CREATE TABLE IF NOT EXISTS `verify_student_verificationattempt` (
  -- 0015 CreateModel VerificationAttempt: id, created, modified, name, status,
  -- expiration_datetime, user; 0016 removes created and modified
  `id` int NOT NULL AUTO_INCREMENT,               -- models.AutoField (Django's implicit id)
  `name` varchar(255) NOT NULL,                   -- CharField(max_length=255, blank=True)
  -- 0015 CharField(max_length=64); 0016 AlterField -> model_utils StatusField(max_length=100):
  -- created, pending, approved, denied (VerificationAttemptStatus)
  `status` varchar(100) NOT NULL,
  `expiration_datetime` datetime(6) DEFAULT NULL, -- DateTimeField(null=True, blank=True)
  `user_id` int NOT NULL,                         -- ForeignKey(auth_user); constraint left out
  -- 0016 AddFields, appended in this order
  `created_at` datetime(6) NOT NULL,              -- DateTimeField(auto_now_add=True, db_index=True)
  `hide_status_from_user` tinyint(1) DEFAULT NULL, -- BooleanField(default=False, null=True)
  `status_changed` datetime(6) NOT NULL,          -- model_utils MonitorField(monitor='status')
  `updated_at` datetime(6) NOT NULL,              -- DateTimeField(auto_now=True, db_index=True)
  PRIMARY KEY (`id`),
  -- index backing the user_id foreign key (named like the constraint, which is left out here)
  KEY `verify_student_va_user_id_fk` (`user_id`),
  -- db_index=True fields (0016); Django's names are hashed, these are descriptive
  KEY `verify_student_va_created_at_idx` (`created_at`),
  KEY `verify_student_va_updated_at_idx` (`updated_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
